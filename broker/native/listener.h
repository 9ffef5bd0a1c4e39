#pragma once
// The native protocol's TCP listener: a net::Listener (accept loop, --max-connections, tracking
// for graceful shutdown; see broker/net/listener.h) that makes a native::Connection of every
// accepted socket. Bind() it to config.native_addr, Start(), Stop(); destroy it before the
// io_contexts.

#include <memory>

#include "broker/io_context_pool.h"
#include "broker/net/listener.h"
#include "broker/services.h"

namespace sluice::broker::native {

// `broker` and `tracker` must outlive the listener and every connection it makes.
std::unique_ptr<net::Listener> MakeNativeListener(IoContextPool& pool, BrokerServices& broker,
                                                  net::ConnectionTracker& tracker);

}  // namespace sluice::broker::native
