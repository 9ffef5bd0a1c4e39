#pragma once
// Test helpers for Kafka consumer-group tests: Kafka's ConsumerProtocol encodings written from
// Kafka's schema (independent of the client library's codec) and request builders, on top of the
// raw connection of kafka_test_conn.h (whose namespace and aliases this shares).
#include <map>
#include <optional>
#include <ostream>
#include <span>

#include "tests/integration/kafka_test_conn.h"

namespace sluice::kafka_test {

// ---------------------------------------------------------------- Kafka's ConsumerProtocol

using PartitionsByTopic = std::map<std::string, std::vector<int32_t>>;

inline std::string Bytes(const Writer& w) {
  return std::string(w.bytes().begin(), w.bytes().end());
}

inline std::span<uint8_t> View(std::string& s) {
  return {reinterpret_cast<uint8_t*>(s.data()), s.size()};
}

inline void WriteTopicPartitions(Writer& w, const PartitionsByTopic& tps) {
  w.ArrayLength(static_cast<int32_t>(tps.size()), false);
  for (const auto& [topic, partitions] : tps) {
    w.String(topic);
    w.ArrayLength(static_cast<int32_t>(partitions.size()), false);
    for (int32_t p : partitions) w.Int32(p);
  }
}

inline bool ReadTopicPartitions(Reader& r, PartitionsByTopic* out) {
  const int32_t topics = r.ArrayLength(false);
  for (int32_t i = 0; i < topics && r.ok(); ++i) {
    std::string topic = r.String();
    const int32_t n = r.ArrayLength(false);
    for (int32_t j = 0; j < n && r.ok(); ++j) (*out)[topic].push_back(r.Int32());
  }
  return r.ok();
}

// ConsumerProtocolSubscription v3, as a Kafka 3.x consumer sends it.
inline std::string KafkaSubscription(const std::vector<std::string>& topics,
                              const std::optional<std::string>& user_data = std::nullopt) {
  Writer w;
  w.Int16(3);
  w.ArrayLength(static_cast<int32_t>(topics.size()), false);
  for (const auto& t : topics) w.String(t);
  w.NullableBytes(user_data);
  WriteTopicPartitions(w, {});  // owned partitions
  w.Int32(-1);                  // generation id
  w.NullableString(std::nullopt);  // rack id
  return Bytes(w);
}

struct DecodedSubscription {
  int16_t version = -1;
  std::vector<std::string> topics;
};

// Any version (later versions only append fields).
inline std::optional<DecodedSubscription> DecodeKafkaSubscription(std::string bytes) {
  Reader r(View(bytes));
  DecodedSubscription s;
  s.version = r.Int16();
  const int32_t n = r.ArrayLength(false);
  for (int32_t i = 0; i < n && r.ok(); ++i) s.topics.push_back(r.String());
  r.NullableBytes();
  if (!r.ok()) return std::nullopt;
  return s;
}

// ConsumerProtocolAssignment v3 (v0's layout).
inline std::string KafkaAssignment(const PartitionsByTopic& tps) {
  Writer w;
  w.Int16(3);
  WriteTopicPartitions(w, tps);
  w.NullableBytes(std::nullopt);
  return Bytes(w);
}

inline std::optional<PartitionsByTopic> DecodeKafkaAssignment(std::string bytes) {
  Reader r(View(bytes));
  r.Int16();
  PartitionsByTopic tps;
  if (!ReadTopicPartitions(r, &tps)) return std::nullopt;
  r.NullableBytes();
  if (!r.ok()) return std::nullopt;
  return tps;
}

// ---------------------------------------------------------------- request builders

inline msg::JoinGroupRequest Join(const std::string& group, const std::string& member_id,
                           const std::vector<std::pair<std::string, std::string>>& protocols,
                           int32_t session_timeout_ms = 30000) {
  msg::JoinGroupRequest j;
  j.group_id = group;
  j.session_timeout_ms = session_timeout_ms;
  j.rebalance_timeout_ms = 30000;
  j.member_id = member_id;
  j.protocol_type = "consumer";
  for (const auto& [name, metadata] : protocols) {
    msg::JoinGroupRequest::JoinGroupRequestProtocol p;
    p.name = name;
    p.metadata = metadata;
    j.protocols.push_back(std::move(p));
  }
  return j;
}

inline msg::SyncGroupRequest Sync(const std::string& group, int32_t generation,
                           const std::string& member_id,
                           const std::map<std::string, std::string>& assignments = {}) {
  msg::SyncGroupRequest s;
  s.group_id = group;
  s.generation_id = generation;
  s.member_id = member_id;
  for (const auto& [member, bytes] : assignments) {
    msg::SyncGroupRequest::SyncGroupRequestAssignment a;
    a.member_id = member;
    a.assignment = bytes;
    s.assignments.push_back(std::move(a));
  }
  return s;
}

inline msg::HeartbeatRequest Heartbeat(const std::string& group, int32_t generation,
                                const std::string& member_id) {
  msg::HeartbeatRequest h;
  h.group_id = group;
  h.generation_id = generation;
  h.member_id = member_id;
  return h;
}

inline msg::LeaveGroupRequest LeaveV3(const std::string& group,
                                      const std::vector<std::string>& ids) {
  msg::LeaveGroupRequest l;
  l.group_id = group;
  for (const auto& id : ids) {
    msg::LeaveGroupRequest::MemberIdentity m;
    m.member_id = id;
    l.members.push_back(std::move(m));
  }
  return l;
}

// partition -> (offset, metadata)
using OffsetsToCommit = std::map<int32_t, std::pair<int64_t, std::optional<std::string>>>;

inline msg::OffsetCommitRequest Commit(const std::string& group, int32_t generation,
                                       const std::string& member_id, const std::string& topic,
                                       const OffsetsToCommit& offsets) {
  msg::OffsetCommitRequest c;
  c.group_id = group;
  c.generation_id_or_member_epoch = generation;
  c.member_id = member_id;
  msg::OffsetCommitRequest::OffsetCommitRequestTopic t;
  t.name = topic;
  for (const auto& [partition, om] : offsets) {
    msg::OffsetCommitRequest::OffsetCommitRequestTopic::OffsetCommitRequestPartition p;
    p.partition_index = partition;
    p.committed_offset = om.first;
    p.committed_metadata = om.second;
    t.partitions.push_back(std::move(p));
  }
  c.topics.push_back(std::move(t));
  return c;
}

inline msg::OffsetFetchRequest FetchOffsets(const std::string& group,
                                     std::optional<PartitionsByTopic> tps) {
  msg::OffsetFetchRequest f;
  f.group_id = group;
  if (tps) {
    f.topics.emplace();
    for (const auto& [topic, partitions] : *tps) {
      msg::OffsetFetchRequest::OffsetFetchRequestTopic t;
      t.name = topic;
      t.partition_indexes = partitions;
      f.topics->push_back(std::move(t));
    }
  }
  return f;
}

struct Committed {
  int64_t offset;
  std::optional<std::string> metadata;
  int16_t error;
  auto operator<=>(const Committed&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Committed& c) {
  os << "{" << c.offset << ", ";
  if (!c.metadata) {
    os << "null";
  } else if (c.metadata->size() <= 40) {
    os << '"' << *c.metadata << '"';
  } else {
    os << '"' << c.metadata->substr(0, 20) << "...\" (" << c.metadata->size() << " bytes)";
  }
  return os << ", error " << c.error << "}";
}

// (topic, partition) -> what OffsetFetch answered.
using CommittedByPartition = std::map<std::pair<std::string, int32_t>, Committed>;

inline CommittedByPartition Flatten(const msg::OffsetFetchResponse& r) {
  CommittedByPartition out;
  for (const auto& t : r.topics) {
    for (const auto& p : t.partitions) {
      out[{t.name, p.partition_index}] = Committed{p.committed_offset, p.metadata, p.error_code};
    }
  }
  return out;
}

}  // namespace sluice::kafka_test
