#pragma once
// Small pieces several Kafka handlers share.

#include <cstdint>
#include <string>
#include <string_view>

#include "broker/kafka/handler.h"

namespace sluice::broker::kafka {

// The cluster id reported in Metadata. One node, one cluster; a stable value so clients that log
// or compare it see the same one across restarts.
inline constexpr std::string_view kClusterId = "sluice-cluster-0";

struct BrokerAddress {
  std::string host;
  int32_t port = 0;
};

// This broker as Kafka clients should reach it (Metadata brokers, FindCoordinator): the
// configured Kafka host, or the address the client connected to when the listener is bound to a
// wildcard address; the port actually bound.
BrokerAddress SelfAddress(RequestContext& ctx);

}  // namespace sluice::broker::kafka
