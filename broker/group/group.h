#pragma once
// Group and Member: the in-memory state of one consumer group, and the pure rules over it
// (protocol compatibility, protocol election, join order). No I/O and no callbacks are invoked
// here; GroupCoordinator::Impl drives the state machine.
//
// Threading: owned by GroupCoordinator::Impl and touched only on its strand. The timers are bound
// to that strand.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asio/steady_timer.hpp"
#include "broker/group/coordinator.h"
#include "storage/group_offset_store.h"

namespace sluice::broker::group {

enum class GroupState { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };
// Kafka's names: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
std::string_view GroupStateName(GroupState s);

// Kafka's rule for group ids in this broker: non-empty, at most 255 bytes, no NUL (the offset
// store separates the group id from the topic with a NUL byte).
inline constexpr size_t kMaxGroupIdBytes = 255;
bool IsValidGroupId(std::string_view id);

// "<client_id>-<random 128-bit hex in UUID layout>", Kafka's member id shape.
std::string NewMemberId(std::string_view client_id);

using JoinCallback = std::function<void(JoinGroupResult)>;
using SyncCallback = std::function<void(SyncGroupResult)>;

// One member of a group. Lifecycle: created by its first JoinGroup, destroyed when it leaves,
// misses its session timeout or does not rejoin a rebalance in time.
struct Member {
  template <typename Executor>
  explicit Member(const Executor& ex) : session_timer(ex) {}

  std::string id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;
  std::vector<GroupProtocol> protocols;  // the member's order of preference
  std::string assignment;                // from the leader's last SyncGroup
  uint64_t join_seq = 0;                 // order of first join; the earliest is leader by default

  // A JoinGroup (resp. SyncGroup) response held until the rebalance (resp. the leader's sync)
  // completes. Invariant: join_done is set only in PreparingRebalance, sync_done only in
  // CompletingRebalance.
  JoinCallback join_done;
  SyncCallback sync_done;

  // Expires when the member is silent for session_timeout_ms. session_epoch tells a stale expiry
  // (already queued when the timer was re-armed) from the current one.
  asio::steady_timer session_timer;
  uint64_t session_epoch = 0;

  // Metadata the member sent for `protocol`, or nullptr if it does not support it.
  const std::string* MetadataFor(std::string_view protocol) const;
  // Same protocols, same order, same metadata.
  bool Matches(const std::vector<GroupProtocol>& protocols) const;
};

struct OffsetKey {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const OffsetKey&) const = default;
};
using OffsetMap = std::map<OffsetKey, storage::CommittedOffset>;

// One consumer group. Lifecycle: created by the first JoinGroup/OffsetCommit, or when its stored
// offsets are first read; destroyed by DeleteGroups. Held by shared_ptr so that an in-flight
// offset write completes against the incarnation it was issued for.
struct Group : std::enable_shared_from_this<Group> {
  template <typename Executor>
  Group(std::string group_id, const Executor& ex)
      : id(std::move(group_id)), rebalance_timer(ex) {}

  const std::string id;
  GroupState state = GroupState::kEmpty;
  std::string protocol_type;
  std::string protocol;  // chosen for the current generation; "" when none
  int32_t generation = 0;
  std::string leader_id;  // "" when there are no members
  std::map<std::string, std::unique_ptr<Member>> members;
  uint64_t next_join_seq = 0;

  // Drives PreparingRebalance: either the initial delay of an empty group (Kafka's
  // InitialDelayedJoin, which only completes when it expires) or the rebalance timeout
  // (Kafka's DelayedJoin, which also completes as soon as every member has rejoined).
  asio::steady_timer rebalance_timer;
  uint64_t rebalance_epoch = 0;
  bool in_initial_delay = false;
  bool new_member_added = false;  // during the initial delay: extend it once more
  int32_t initial_delay_remaining_ms = 0;

  // Member ids handed out with kMemberIdRequired and not yet used to join (Kafka's
  // pendingMembers); each timer forgets its id after the session timeout.
  std::map<std::string, std::unique_ptr<asio::steady_timer>> pending_members;

  // Committed offsets, loaded from the store on first use; nullopt until then.
  std::optional<OffsetMap> offsets;

  Member* FindMember(const std::string& member_id) const;
  std::vector<Member*> MembersInJoinOrder() const;
  // The earliest-joined member, or "" if none.
  std::string FirstMemberId() const;
  bool AllMembersJoined() const;
  // Max of the members' rebalance timeouts (Kafka's group.rebalanceTimeoutMs).
  int32_t RebalanceTimeoutMs() const;
  // Whether a member (`member_id`, "" for a new one) with these protocols may join: the type
  // must match and at least one protocol must be supported by every *other* member.
  bool SupportsProtocols(const std::string& member_id, const std::string& protocol_type,
                         const std::vector<GroupProtocol>& protocols) const;
  // Kafka's election: candidates are the protocols every member supports; each member votes for
  // its most preferred candidate; most votes wins, ties go to the leader's preference order.
  // Requires a non-empty group.
  std::string SelectProtocol() const;
};

}  // namespace sluice::broker::group
