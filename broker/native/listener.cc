#include "broker/native/listener.h"

#include "broker/native/connection.h"

namespace sluice::broker::native {

std::unique_ptr<net::Listener> MakeNativeListener(IoContextPool& pool, BrokerServices& broker,
                                                  net::ConnectionTracker& tracker) {
  return net::MakeConnectionListener<Connection>(pool, broker, tracker, "native protocol");
}

}  // namespace sluice::broker::native
