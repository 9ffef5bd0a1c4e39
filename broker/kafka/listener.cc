#include "broker/kafka/listener.h"

#include "broker/kafka/connection.h"

namespace sluice::broker::kafka {

std::unique_ptr<net::Listener> MakeKafkaListener(IoContextPool& pool, BrokerServices& broker,
                                                 net::ConnectionTracker& tracker) {
  net::ListenerOptions options{.name = "kafka protocol",
                               .tracker = &tracker,
                               .max_connections = broker.config.max_connections,
                               .metrics = &broker.metrics};
  return std::make_unique<net::Listener>(
      pool, std::move(options),
      [&broker, &tracker](asio::ip::tcp::socket socket) -> std::shared_ptr<net::TrackedConnection> {
        return std::make_shared<Connection>(std::move(socket), broker, tracker);
      });
}

}  // namespace sluice::broker::kafka
