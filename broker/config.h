#pragma once
// BrokerConfig: everything `sluiced` can be told at start-up, from flags and an optional TOML file
// (`--config FILE`; a flag given on the command line overrides the file). Parsed once in main()
// and read-only afterwards, so any thread may read it.
//
// Example:
//   auto parsed = ParseBrokerConfig(argc, argv);
//   if (!parsed.config) return parsed.exit_code;  // --help (0) or a bad value (2), already printed
//   const BrokerConfig& c = *parsed.config;

#include <cstdint>
#include <optional>
#include <string>

#include "spdlog/common.h"
#include "storage/log_config.h"

namespace sluice::broker {

// A listener address, "host:port" or "[v6 host]:port". Port 0 asks the OS for an ephemeral one.
struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};

struct BrokerConfig {
  std::string data_dir = "./data";
  HostPort kafka_addr{"127.0.0.1", 9092};
  HostPort native_addr{"127.0.0.1", 9192};
  HostPort http_addr{"127.0.0.1", 9644};
  int32_t node_id = 0;
  int32_t num_partitions = 1;      // Kafka's num.partitions
  bool auto_create_topics = true;  // Kafka's auto.create.topics.enable
  storage::LogConfig log;          // broker-wide topic defaults (log.* flags)
  spdlog::level::level_enum log_level = spdlog::level::info;
  int io_threads = 1;  // default: hardware concurrency
  uint32_t max_frame_bytes = 100u << 20;
  int max_connections = 10000;
  uint64_t max_inflight_bytes_per_connection = 64u << 20;
  int64_t idle_timeout_ms = 600000;  // Kafka's connections.max.idle.ms
  // The longest the broker holds a request: a produce's durability wait (its timeout_ms, or this
  // when 0) and a fetch's long poll (max_wait_ms) are cut to it. Kafka's request.timeout.ms.
  int64_t request_timeout_ms = 30000;
  int32_t max_partitions_per_topic = 10000;
  int32_t max_topics = 100000;  // Kafka has no such limit; each partition holds open files
  // Produces fail (KAFKA_STORAGE_ERROR) rather than leave less free space on the data dir's file
  // system, so the metadata store can still work (delete a topic) on a "full" disk.
  int64_t storage_min_free_bytes = int64_t{256} << 20;
  int64_t log_retention_check_interval_ms = 300000;  // Kafka's log.retention.check.interval.ms
  int32_t group_min_session_timeout_ms = 6000;
  int32_t group_max_session_timeout_ms = 1800000;
  int32_t group_initial_rebalance_delay_ms = 3000;
  std::string port_file;  // "" = none
};

struct ParsedConfig {
  std::optional<BrokerConfig> config;  // set when the broker should run
  int exit_code = 0;                   // otherwise: 0 after --help, 2 after an error
};

// Parses flags (and the --config TOML file). Prints help or the error itself.
ParsedConfig ParseBrokerConfig(int argc, const char* const* argv);

// Parses "host:port" / "[v6]:port"; the host must be an IP literal or "localhost".
std::optional<HostPort> ParseHostPort(const std::string& s, std::string* error);

}  // namespace sluice::broker
