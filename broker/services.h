#pragma once
// BrokerServices: the broker-wide objects a request handler may use, gathered so handlers take
// one reference instead of a dozen. Built by the Server after everything in it is running; every
// member outlives every connection. The referenced objects are thread-safe (see each class).

#include <cstdint>
#include <string>

#include "broker/config.h"
#include "broker/group/coordinator.h"
#include "broker/metrics.h"
#include "broker/notifier.h"
#include "broker/topic_admin.h"
#include "storage/log_manager.h"

namespace sluice::broker {

struct BrokerServices {
  const BrokerConfig& config;
  storage::LogManager& logs;
  TopicAdmin& topics;
  GroupCoordinator& groups;
  PartitionNotifier& notifier;
  Metrics& metrics;
  // The bound ports (differ from the config's when that is 0).
  uint16_t native_port = 0;
  uint16_t kafka_port = 0;
};

}  // namespace sluice::broker
