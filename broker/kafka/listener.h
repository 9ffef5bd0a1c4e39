#pragma once
// The Kafka protocol's TCP listener: a net::Listener (accept loop, --max-connections shared with
// the native listener, tracking for graceful shutdown; see broker/net/listener.h) that makes a
// kafka::Connection of every accepted socket. Bind() it to config.kafka_addr, Start(), Stop();
// destroy it before the io_contexts.

#include <memory>

#include "broker/io_context_pool.h"
#include "broker/net/listener.h"
#include "broker/services.h"

namespace sluice::broker::kafka {

// `broker` and `tracker` must outlive the listener and every connection it makes.
std::unique_ptr<net::Listener> MakeKafkaListener(IoContextPool& pool, BrokerServices& broker,
                                                 net::ConnectionTracker& tracker);

}  // namespace sluice::broker::kafka
