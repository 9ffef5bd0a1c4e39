#pragma once
// Value types of the sluice client API: topic-partitions, records as produced and as consumed,
// delivery reports and committed offsets. Plain copyable structs with no behaviour; any thread.
//
// Example:
//   sluice::Record r;
//   r.topic = "orders";
//   r.key = "customer-17";                       // same key, same partition
//   r.value = R"({"total": 42})";
//   r.headers.push_back({"trace-id", "abc123"});
//   // r.partition unset: the partitioner picks; r.timestamp_ms unset: now.

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice {

// One partition of one topic; ordered by topic, then partition.
struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  auto operator<=>(const TopicPartition&) const = default;
  std::string ToString() const { return topic + "-" + std::to_string(partition); }
  friend std::ostream& operator<<(std::ostream& os, const TopicPartition& tp) {
    return os << tp.ToString();
  }
  template <typename H>
  friend H AbslHashValue(H h, const TopicPartition& tp) {
    return H::combine(std::move(h), tp.topic, tp.partition);
  }
};

// A record header; Kafka allows repeated keys and null values.
struct Header {
  std::string key;
  std::optional<std::string> value;
  bool operator==(const Header&) const = default;
};

// A record to produce. `partition` unset: chosen by the partitioner (murmur2 of the key, or the
// sticky partition for a null key). `timestamp_ms` unset: the time of Send().
struct Record {
  std::string topic;
  std::optional<int32_t> partition;
  std::optional<std::string> key;    // nullopt: null key
  std::optional<std::string> value;  // nullopt: null value (a tombstone)
  std::vector<Header> headers;
  std::optional<int64_t> timestamp_ms;
};

// Where a produced record landed. `offset` is -1 for acks=0, which gets no acknowledgement.
struct RecordMetadata {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;  // the record's create time
};

// The outcome of one Send(): metadata, or why the record was not delivered.
using SendResult = absl::StatusOr<RecordMetadata>;

// A record as a consumer returns it.
struct ConsumerRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
};

// A committed position: the next offset to consume, plus optional application metadata.
struct OffsetAndMetadata {
  int64_t offset = -1;
  std::string metadata;
  bool operator==(const OffsetAndMetadata&) const = default;
};

using OffsetMap = std::map<TopicPartition, OffsetAndMetadata>;

}  // namespace sluice

template <>
struct std::hash<sluice::TopicPartition> {
  size_t operator()(const sluice::TopicPartition& tp) const {
    return std::hash<std::string>()(tp.topic) * 31 + std::hash<int32_t>()(tp.partition);
  }
};
