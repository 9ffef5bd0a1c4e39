#pragma once
// FakeBroker: an in-process broker speaking the native protocol, for the client library's tests.
// It keeps everything in memory and implements just enough to exercise the clients for real:
// topics and metadata, produce (validating each batch with the shared codec and assigning
// offsets), fetch with long polling, list offsets, consumer groups with Kafka's classic rebalance
// (join waits for every member, the leader's SyncGroup distributes the assignment, heartbeats
// report rebalances, sessions expire), committed offsets, and the admin APIs. Fault injection:
// failed or delayed produce responses and dropped connections.
//
// Threads: the broker runs on its own io thread. Its state is guarded by one mutex so that test
// code may inspect it from any thread; handlers never hold the mutex across a suspension.
// Lifecycle: listens on 127.0.0.1 (ephemeral port) from construction until destruction.
//
// Example:
//   FakeBroker broker;
//   broker.CreateTopic("orders", 3);
//   config.bootstrap_servers = {broker.address()};
//   ... produce ...
//   EXPECT_EQ(broker.Records("orders", 0).size(), 10u);

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "asio.hpp"
#include "proto/native.pb.h"
#include "sluice/types.h"

namespace sluice::client::testing {

using Clock = std::chrono::steady_clock;

// A record as stored, decoded for assertions.
struct StoredRecord {
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
};

// One Produce request as received.
struct ProduceLogEntry {
  int32_t acks = 0;
  // Per partition slice: the partition and the records in it.
  std::vector<std::pair<TopicPartition, int32_t>> partitions;
};

class FakeBroker {
 public:
  struct Options {
    bool auto_create_topics = true;
    int32_t default_partitions = 1;
  };

  FakeBroker() : FakeBroker(Options{}) {}
  explicit FakeBroker(Options options);
  ~FakeBroker();
  FakeBroker(const FakeBroker&) = delete;
  FakeBroker& operator=(const FakeBroker&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

  // ---- setup
  void CreateTopic(const std::string& name, int32_t partitions,
                   std::map<std::string, std::string> configs = {});
  // Grows a topic to `partitions` partitions.
  void AddPartitions(const std::string& name, int32_t partitions);
  // Appends a batch of records with the given values (keys null) directly, bypassing the
  // protocol. Returns the base offset.
  int64_t Append(const TopicPartition& tp, const std::vector<std::string>& values,
                 int64_t timestamp_ms = 1700000000000);

  // ---- fault injection
  // The next `times` partition results of Produce requests fail with `code` (nothing appended).
  void FailNextProduce(native::ErrorCode code, int times = 1);
  // Produce responses are sent this long after the append (0: at once).
  void SetProduceDelay(std::chrono::milliseconds delay);
  // Closes every client connection now.
  void DropConnections();

  // ---- inspection
  std::vector<StoredRecord> Records(const std::string& topic, int32_t partition) const;
  int64_t HighWatermark(const std::string& topic, int32_t partition) const;
  std::vector<ProduceLogEntry> ProduceLog() const;
  // Requests received, by kind ("metadata", "produce", "heartbeat", ...).
  int RequestCount(const std::string& kind) const;
  size_t connections_accepted() const;
  std::optional<int64_t> Committed(const std::string& group, const TopicPartition& tp) const;
  int32_t Generation(const std::string& group) const;
  std::string GroupState(const std::string& group) const;
  std::vector<std::string> Members(const std::string& group) const;
  bool HasTopic(const std::string& topic) const;

 private:
  struct StoredBatch {
    int64_t base = 0;
    int64_t last = 0;
    int64_t max_timestamp = -1;
    std::string bytes;
  };
  struct Partition {
    std::vector<StoredBatch> batches;
    int64_t high_watermark = 0;
  };
  struct Topic {
    std::vector<Partition> partitions;
    std::map<std::string, std::string> configs;
  };
  struct Member {
    std::string id;
    std::string client_id;
    std::vector<std::pair<std::string, std::string>> protocols;  // (name, metadata)
    std::chrono::milliseconds session_timeout{10000};
    std::chrono::milliseconds rebalance_timeout{60000};
    Clock::time_point last_seen;
    bool joined = false;                                     // rejoined in the current rebalance
    std::optional<native::JoinGroupResponse> join_response;  // ready for a waiting JoinGroup
    std::string assignment;
  };
  struct Group {
    std::string state = "Empty";
    std::string protocol_type;
    std::string protocol;
    int32_t generation = 0;
    std::string leader;
    std::map<std::string, Member> members;
    std::shared_ptr<asio::steady_timer> signal;  // never expires; cancelled to wake waiters
    Clock::time_point rebalance_deadline;
    std::map<TopicPartition, int64_t> offsets;
    int next_member = 1;
  };
  struct Reply {
    native::ResponseHeader header;
    std::string payload;
    bool send = true;
  };

  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(std::shared_ptr<asio::ip::tcp::socket> socket);
  asio::awaitable<Reply> Handle(const native::RequestHeader& request, std::string_view payload);
  asio::awaitable<void> Ticker();

  // Data APIs (fake_broker.cc); each locks mu_ itself.
  void HandleMetadata(const native::MetadataRequest& r, native::ResponseHeader* out);
  void HandleCreateTopics(const native::CreateTopicsRequest& r, native::ResponseHeader* out);
  void HandleDeleteTopics(const native::DeleteTopicsRequest& r, native::ResponseHeader* out);
  void HandleDescribeConfigs(const native::DescribeConfigsRequest& r, native::ResponseHeader* out);
  void HandleProduce(const native::ProduceRequest& r, std::string_view payload,
                     native::ResponseHeader* out);
  bool FetchOnce(const native::FetchRequest& r, native::ResponseHeader* out, std::string* payload);
  void HandleListOffsets(const native::ListOffsetsRequest& r, native::ResponseHeader* out);

  // Group APIs (fake_group.cc).
  asio::awaitable<void> HandleJoin(const native::JoinGroupRequest& r, native::ResponseHeader* out);
  asio::awaitable<void> HandleSync(const native::SyncGroupRequest& r, native::ResponseHeader* out);
  void HandleHeartbeat(const native::HeartbeatRequest& r, native::ResponseHeader* out);
  void HandleLeave(const native::LeaveGroupRequest& r, native::ResponseHeader* out);
  void HandleOffsetCommit(const native::OffsetCommitRequest& r, native::ResponseHeader* out);
  void HandleOffsetFetch(const native::OffsetFetchRequest& r, native::ResponseHeader* out);
  void HandleListGroups(native::ResponseHeader* out);
  void HandleDescribeGroups(const native::DescribeGroupsRequest& r, native::ResponseHeader* out);
  // Group state transitions; mu_ held.
  Group& GroupLocked(const std::string& id);
  void BeginRebalanceLocked(Group& g, Clock::time_point now);
  void MaybeCompleteJoinLocked(Group& g);
  void RemoveMemberLocked(Group& g, const std::string& member_id, Clock::time_point now);
  void TickGroupsLocked(Clock::time_point now);
  static void Wake(Group& g);

  int32_t CreateTopicLocked(const std::string& name, int32_t partitions,
                            std::map<std::string, std::string> configs);
  int64_t AppendLocked(Partition& p, std::string batch);

  const Options options_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;

  mutable std::mutex mu_;
  std::map<std::string, Topic> topics_;
  std::map<std::string, Group> groups_;
  std::vector<ProduceLogEntry> produce_log_;
  std::map<std::string, int> request_counts_;
  std::vector<std::weak_ptr<asio::ip::tcp::socket>> sockets_;
  size_t connections_accepted_ = 0;
  native::ErrorCode fail_produce_code_ = native::NONE;
  int fail_produce_times_ = 0;
  std::chrono::milliseconds produce_delay_{0};
  bool stopping_ = false;
};

}  // namespace sluice::client::testing
