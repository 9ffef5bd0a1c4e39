#pragma once
// GroupCoordinator: consumer groups with Kafka's classic rebalance protocol (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup) and durable committed offsets. Protocol-neutral: the native handlers and
// (later) the Kafka handlers call the same object, so a Kafka client and a sluice::Consumer can be
// members of one group. Member metadata and assignments are opaque bytes.
//
// Threading: every method may be called from any thread. All group state lives on one strand of
// the executor given at construction; each call is posted there and its `done` callback runs on
// that strand. Callers that need to continue elsewhere re-post (the broker's handlers co_await
// them through asio::async_initiate). `done` is always called exactly once, also at shutdown.
//
// Group states (Kafka's): Empty -> PreparingRebalance -> CompletingRebalance -> Stable, and Dead
// for deleted groups. A rebalance starts when a member joins, leaves, changes its protocols or
// misses its session timeout; it completes when every known member has rejoined or the rebalance
// timeout expires (members that did not rejoin are removed). The first member to join a
// generation is its leader and receives every member's metadata; it computes the assignment and
// sends it in SyncGroup.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "asio/any_io_executor.hpp"
#include "storage/group_offset_store.h"

namespace sluice::broker {

enum class GroupError {
  kNone,
  kCoordinatorNotAvailable,  // shutting down
  kRebalanceInProgress,
  kIllegalGeneration,
  kUnknownMemberId,
  kInconsistentGroupProtocol,
  kInvalidSessionTimeout,
  kGroupIdNotFound,
  kNonEmptyGroup,
  kInvalidGroupId,
  kMemberIdRequired,
  kStorageError,
};
std::string_view GroupErrorName(GroupError e);

struct GroupProtocol {
  std::string name;      // e.g. "range", "roundrobin", "cooperative-sticky"
  std::string metadata;  // opaque (Kafka ConsumerProtocolSubscription)
};

struct JoinGroupRequest {
  std::string group_id;
  std::string member_id;  // "" on first join: the coordinator assigns one
  std::string client_id;
  std::string client_host;
  std::string protocol_type;  // "consumer"
  int32_t session_timeout_ms = 10000;
  int32_t rebalance_timeout_ms = 300000;
  std::vector<GroupProtocol> protocols;  // in the member's order of preference
  // Kafka's JoinGroup v4+: a first join (member_id "") is answered kMemberIdRequired with a
  // member id and the member must join again with it. A join whose response is lost then
  // leaves no member behind: the id is forgotten if unused for session_timeout_ms.
  bool require_known_member_id = false;
};
struct JoinGroupMember {
  std::string member_id;
  std::string metadata;
};
struct JoinGroupResult {
  GroupError error = GroupError::kNone;
  int32_t generation_id = -1;
  std::string protocol_name;
  std::string leader_id;
  std::string member_id;  // with kMemberIdRequired: the id to join with
  std::vector<JoinGroupMember> members;  // filled for the leader only
};

struct SyncGroupRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::vector<std::pair<std::string, std::string>> assignments;  // member id -> bytes (leader)
};
struct SyncGroupResult {
  GroupError error = GroupError::kNone;
  std::string assignment;
};

struct HeartbeatRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
};

struct LeaveGroupRequest {
  std::string group_id;
  std::string member_id;
};

struct TopicPartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;
  std::string metadata;
};

struct OffsetCommitRequest {
  std::string group_id;
  // generation -1 and member "" commit outside any generation; allowed only while the group has
  // no members (admin tools, consumers that assign partitions themselves).
  int32_t generation_id = -1;
  std::string member_id;
  std::vector<TopicPartitionOffset> offsets;
};
struct OffsetCommitResult {
  GroupError error = GroupError::kNone;  // applies to every partition of the request
};

struct OffsetFetchRequest {
  std::string group_id;
  std::vector<std::pair<std::string, int32_t>> partitions;  // empty: all committed
};
struct OffsetFetchResult {
  GroupError error = GroupError::kNone;
  std::vector<TopicPartitionOffset> offsets;  // offset -1: nothing committed
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  std::string state;
};

struct GroupMemberDescription {
  std::string member_id;
  std::string client_id;
  std::string client_host;
  std::string metadata;    // of the chosen protocol
  std::string assignment;
};
struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t committed_offset = -1;
  int64_t high_watermark = -1;
  int64_t lag = 0;  // max(0, high_watermark - committed_offset)
};
struct GroupDescription {
  std::string group_id;
  GroupError error = GroupError::kNone;
  std::string state;  // "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"
  std::string protocol_type;
  std::string protocol;
  int32_t generation_id = 0;
  std::vector<GroupMemberDescription> members;
  std::vector<PartitionLag> offsets;
};

class GroupCoordinator {
 public:
  struct Options {
    // Kafka's group.min/max.session.timeout.ms.
    int32_t min_session_timeout_ms = 6000;
    int32_t max_session_timeout_ms = 1800000;
    // Kafka's group.initial.rebalance.delay.ms: how long the first rebalance of an empty group
    // waits for more members.
    int32_t initial_rebalance_delay_ms = 3000;
  };
  // The high watermark of a partition, or nullopt if it does not exist (for lag).
  using HighWatermarkFn = std::function<std::optional<int64_t>(const std::string&, int32_t)>;

  GroupCoordinator(asio::any_io_executor executor, storage::GroupOffsetStore& offsets,
                   HighWatermarkFn high_watermark, Options options);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  void JoinGroup(JoinGroupRequest req, std::function<void(JoinGroupResult)> done);
  void SyncGroup(SyncGroupRequest req, std::function<void(SyncGroupResult)> done);
  void Heartbeat(HeartbeatRequest req, std::function<void(GroupError)> done);
  void LeaveGroup(LeaveGroupRequest req, std::function<void(GroupError)> done);
  void OffsetCommit(OffsetCommitRequest req, std::function<void(OffsetCommitResult)> done);
  void OffsetFetch(OffsetFetchRequest req, std::function<void(OffsetFetchResult)> done);
  void ListGroups(std::function<void(std::vector<GroupListing>)> done);
  void DescribeGroups(std::vector<std::string> group_ids,
                      std::function<void(std::vector<GroupDescription>)> done);
  // Deletes empty groups and their committed offsets (Kafka's DeleteGroups).
  void DeleteGroups(std::vector<std::string> group_ids,
                    std::function<void(std::vector<std::pair<std::string, GroupError>>)> done);

  // Fails every pending JoinGroup/SyncGroup with kCoordinatorNotAvailable and refuses new calls.
  // Blocks until done; must not be called from the coordinator's own strand.
  void Shutdown();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::broker
