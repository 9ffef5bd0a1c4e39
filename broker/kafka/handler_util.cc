#include "broker/kafka/handler_util.h"

#include "asio/ip/address.hpp"

namespace sluice::broker::kafka {

BrokerAddress SelfAddress(RequestContext& ctx) {
  const BrokerConfig& c = ctx.broker.config;
  asio::error_code ec;
  const auto addr = asio::ip::make_address(c.kafka_addr.host, ec);
  BrokerAddress out;
  // Listening on a wildcard address: advertise the address this client reached us on.
  out.host = !ec && addr.is_unspecified() ? ctx.local_endpoint().address().to_string()
                                          : c.kafka_addr.host;
  out.port = ctx.broker.kafka_port;
  return out;
}

}  // namespace sluice::broker::kafka
