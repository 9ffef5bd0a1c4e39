#pragma once
// Configuration of the sluice clients. Field names follow Kafka's client properties (noted beside
// each field) so settings carry over; durations are std::chrono::milliseconds. Plain structs,
// validated by the client's Create(); copy them freely.
//
// Example:
//   using namespace std::chrono_literals;
//   sluice::ProducerConfig config;
//   config.bootstrap_servers = {"127.0.0.1:9093"};
//   config.acks = sluice::Acks::kAll;
//   config.linger = 10ms;
//   config.batch_size = 64 * 1024;
//   auto producer = sluice::Producer::Create(config);

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sluice {

using std::chrono::milliseconds;

// Settings every client shares: where the brokers are and how to talk to them.
struct ClientConfig {
  std::vector<std::string> bootstrap_servers;  // bootstrap.servers: "host:port" (native port)
  std::string client_id = "sluice-cpp";        // client.id
  milliseconds request_timeout{30000};         // request.timeout.ms: one request's round trip
  milliseconds connect_timeout{10000};         // socket.connection.setup.timeout.ms
  milliseconds reconnect_backoff{50};          // reconnect.backoff.ms: first retry delay
  milliseconds reconnect_backoff_max{1000};    // reconnect.backoff.max.ms: doubling stops here
  milliseconds retry_backoff{100};             // retry.backoff.ms: delay before a retried request
  milliseconds metadata_max_age{300000};       // metadata.max.age.ms: periodic refresh
  bool allow_auto_create_topics = true;        // allow.auto.create.topics (broker decides too)
  uint32_t max_frame_bytes = 100u << 20;       // largest response frame accepted

  absl::Status Validate() const;
};

enum class Acks : int32_t {
  kNone = 0,    // no acknowledgement: the record counts as sent once written to the socket
  kLeader = 1,  // after the broker wrote it to its log (page cache)
  kAll = -1,    // after the broker synced it (fdatasync on a single node)
};

struct ProducerConfig : ClientConfig {
  Acks acks = Acks::kAll;                 // acks
  size_t batch_size = 16384;              // batch.size: bytes per partition batch
  milliseconds linger{5};                 // linger.ms: wait this long to fill a batch
  size_t buffer_memory = 32u << 20;       // buffer.memory: bytes of unsent records
  milliseconds max_block{60000};          // max.block.ms: Send() waits this long for room
  int32_t retries = INT32_MAX;            // retries (bounded by delivery_timeout)
  milliseconds delivery_timeout{120000};  // delivery.timeout.ms: Send() to final outcome
  int32_t max_in_flight = 5;              // max.in.flight.requests.per.connection
  size_t max_request_size = 1u << 20;     // max.request.size: bytes of one request
  uint64_t partitioner_seed = 0;          // sticky partition choice; 0: random

  absl::Status Validate() const;
};

enum class AutoOffsetReset {
  kEarliest,  // start from the log start offset
  kLatest,    // start from the log end offset (only records produced from now on)
};

struct ConsumerConfig : ClientConfig {
  ConsumerConfig() { allow_auto_create_topics = false; }

  std::string group_id;                                          // group.id (required)
  AutoOffsetReset auto_offset_reset = AutoOffsetReset::kLatest;  // auto.offset.reset
  bool enable_auto_commit = true;                                // enable.auto.commit
  milliseconds auto_commit_interval{5000};                       // auto.commit.interval.ms
  milliseconds session_timeout{45000};                           // session.timeout.ms
  milliseconds heartbeat_interval{3000};                         // heartbeat.interval.ms
  milliseconds rebalance_timeout{300000};       // max.poll.interval.ms (the JoinGroup timeout)
  int32_t max_poll_records = 500;               // max.poll.records
  int32_t fetch_min_bytes = 1;                  // fetch.min.bytes
  int32_t fetch_max_bytes = 52428800;           // fetch.max.bytes
  int32_t max_partition_fetch_bytes = 1048576;  // max.partition.fetch.bytes
  milliseconds fetch_max_wait{500};             // fetch.max.wait.ms
  // partition.assignment.strategy, in order of preference: "range", "roundrobin",
  // "cooperative-sticky" (the last with eager semantics; see consumer.h).
  std::vector<std::string> assignors = {"range", "cooperative-sticky"};

  absl::Status Validate() const;
};

struct AdminConfig : ClientConfig {
  AdminConfig() { allow_auto_create_topics = false; }
  absl::Status Validate() const { return ClientConfig::Validate(); }
};

}  // namespace sluice
