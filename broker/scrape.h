#pragma once
// The /metrics page: the fixed series of Metrics plus series computed at scrape time from the
// broker's state (partition offsets and sizes, fenced partitions, consumer group lag through the
// coordinator). Runs as a coroutine on an io thread; reads only thread-safe services.

#include <string>

#include "asio/awaitable.hpp"
#include "broker/services.h"

namespace sluice::broker {

asio::awaitable<std::string> ScrapeMetrics(BrokerServices& broker);

}  // namespace sluice::broker
