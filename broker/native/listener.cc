#include "broker/native/listener.h"

#include "broker/native/connection.h"

namespace sluice::broker::native {

std::unique_ptr<net::Listener> MakeNativeListener(IoContextPool& pool, BrokerServices& broker,
                                                  net::ConnectionTracker& tracker) {
  net::ListenerOptions options{.name = "native protocol",
                               .tracker = &tracker,
                               .max_connections = broker.config.max_connections,
                               .metrics = &broker.metrics};
  return std::make_unique<net::Listener>(
      pool, std::move(options),
      [&broker, &tracker](asio::ip::tcp::socket socket) -> std::shared_ptr<net::TrackedConnection> {
        return std::make_shared<Connection>(std::move(socket), broker, tracker);
      });
}

}  // namespace sluice::broker::native
