#pragma once
// Effective configuration of one partition log. Defaults follow Apache Kafka's topic configs
// except where noted; docs/storage.md lists every deviation.

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/storage_meta.pb.h"

namespace sluice::storage {

struct LogConfig {
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  int64_t segment_bytes = int64_t{1} << 30;           // segment.bytes: 1 GiB
  int64_t segment_ms = 7LL * 24 * 3600 * 1000;        // segment.ms: 7 days
  int64_t retention_bytes = -1;                       // retention.bytes: unlimited
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;      // retention.ms: 7 days
  // Background flush policy. Kafka leaves both at "never" and relies on replication; a single
  // sluice node syncs within flush.ms = 1 s by default (a documented deviation). acks=all always
  // waits for fdatasync regardless of these.
  int64_t flush_messages = kNever;                    // flush.messages (1: every append)
  int64_t flush_ms = 1000;                            // flush.ms
  int64_t flush_bytes = kNever;                       // flush.bytes (sluice extension)
  int64_t max_message_bytes = 1048588;                // max.message.bytes: Kafka's 1 MiB + 12

  // Applies the overrides present in `t` on top of this.
  LogConfig With(const meta::TopicConfig& t) const;
  // Every append is synced before it is reported durable (flush.messages = 1).
  bool sync_every_append() const { return flush_messages <= 1; }
};

// Parses one Kafka-style "name=value" topic config into `t`; InvalidArgument for unknown names
// or out-of-range values.
absl::Status SetTopicConfig(meta::TopicConfig* t, const std::string& name, const std::string& value);
// The effective value of every supported config, as Kafka names them.
std::vector<std::pair<std::string, std::string>> DescribeConfig(const LogConfig& c);

}  // namespace sluice::storage
