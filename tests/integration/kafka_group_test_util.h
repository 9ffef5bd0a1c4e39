#pragma once
// Test helpers for Kafka consumer-group tests: a blocking raw Kafka connection that sends the
// generated request structs and decodes the responses, Kafka's ConsumerProtocol encodings written
// from Kafka's schema (independent of the client library's codec), and request builders.
// Used by the test's main thread only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "broker/kafka/kafka_messages.h"
#include "broker/kafka/wire.h"
#include "gtest/gtest.h"

namespace sluice::kafka_test {

namespace msg = broker::kafka::msg;
using broker::kafka::Reader;
using broker::kafka::Writer;
using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

inline constexpr int kIoTimeoutMs = 15000;  // any single socket wait

// ---------------------------------------------------------------- a raw Kafka connection

// One blocking TCP connection speaking Kafka framing: request header v1 (v2 at flexible
// versions), response header v0 (v1 at flexible versions). Requests may be pipelined: Send()
// queues the correlation id that the next Receive() must see.
class KafkaConn {
 public:
  explicit KafkaConn(std::string client_id) : client_id_(std::move(client_id)) {}
  ~KafkaConn() {
    if (fd_ >= 0) close(fd_);
  }
  KafkaConn(const KafkaConn&) = delete;
  KafkaConn& operator=(const KafkaConn&) = delete;

  AssertionResult Connect(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return AssertionFailure() << "connect to 127.0.0.1:" << port << " failed";
    }
    return AssertionSuccess();
  }

  template <typename Req>
  AssertionResult Send(const Req& req, int16_t version) {
    Writer w;
    const size_t size_at = w.ReserveInt32();
    w.Int16(Req::kApiKey);
    w.Int16(version);
    w.Int32(++correlation_);
    w.NullableString(client_id_);
    if (version >= Req::kFirstFlexibleVersion) w.UnsignedVarint(0);  // no tagged fields
    req.Encode(w, version);
    w.PatchInt32(size_at, static_cast<int32_t>(w.bytes().size() - 4));
    const std::vector<uint8_t>& bytes = w.bytes();
    for (size_t sent = 0; sent < bytes.size();) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return AssertionFailure() << "send failed";
      sent += static_cast<size_t>(n);
    }
    pending_.push_back(correlation_);
    return AssertionSuccess();
  }

  template <typename Resp>
  AssertionResult Receive(Resp* resp, int16_t version) {
    std::vector<uint8_t> size_bytes(4);
    if (!ReadExactly(size_bytes)) return AssertionFailure() << "no response (timeout or EOF)";
    Reader sr(size_bytes);
    const int32_t size = sr.Int32();
    if (size < 4) return AssertionFailure() << "bad response size " << size;
    std::vector<uint8_t> frame(static_cast<size_t>(size));
    if (!ReadExactly(frame)) return AssertionFailure() << "truncated response";
    Reader r(frame);
    const int32_t correlation = r.Int32();
    if (version >= Resp::kFirstFlexibleVersion) {
      const uint32_t tags = r.UnsignedVarint();
      for (uint32_t i = 0; i < tags && r.ok(); ++i) {
        r.UnsignedVarint();
        r.Take(r.UnsignedVarint());
      }
    }
    if (pending_.empty()) return AssertionFailure() << "response without a request";
    const int32_t expected = pending_.front();
    pending_.pop_front();
    if (correlation != expected) {
      return AssertionFailure() << "correlation id " << correlation << ", expected " << expected;
    }
    if (!resp->Decode(r, version)) return AssertionFailure() << "undecodable: " << r.error();
    if (r.remaining() != 0) return AssertionFailure() << r.remaining() << " trailing bytes";
    return AssertionSuccess();
  }

  template <typename Req, typename Resp>
  AssertionResult Call(const Req& req, int16_t version, Resp* resp) {
    AssertionResult sent = Send(req, version);
    return sent ? Receive(resp, version) : sent;
  }

  // Whether response bytes arrived within `ms`.
  bool Readable(int ms) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
  }

 private:
  bool ReadExactly(std::vector<uint8_t>& out) {
    using std::chrono::milliseconds;
    using std::chrono::steady_clock;
    const auto until = steady_clock::now() + milliseconds(kIoTimeoutMs);
    for (size_t got = 0; got < out.size();) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(until - steady_clock::now()).count();
      if (left <= 0 || !Readable(static_cast<int>(left))) return false;
      ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

  std::string client_id_;
  int fd_ = -1;
  int32_t correlation_ = 0;
  std::deque<int32_t> pending_;
};

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
