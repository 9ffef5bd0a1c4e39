#include "broker/kafka/listener.h"

#include "broker/kafka/connection.h"

namespace sluice::broker::kafka {

std::unique_ptr<net::Listener> MakeKafkaListener(IoContextPool& pool, BrokerServices& broker,
                                                 net::ConnectionTracker& tracker) {
  return net::MakeConnectionListener<Connection>(pool, broker, tracker, "kafka protocol");
}

}  // namespace sluice::broker::kafka
