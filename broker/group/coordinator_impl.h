#pragma once
// GroupCoordinator::Impl: the state behind the GroupCoordinator facade. Private to broker/group.
//
// Owns every Group (by id), one strand on which all of them live, and one storage thread that
// performs the synced offset writes and deletes so that an fsync never stalls the strand.
//
// Threading: every Do*/private method runs on `strand_`. The facade posts each call there
// (Post); timers are bound to the strand; storage work runs on `storage_thread_` and posts its
// completion back. Shutdown() is the only method called off the strand.
//
// Lifetime: shared_ptr-held. Posted calls and storage completions hold a shared_ptr; timer
// handlers hold a weak_ptr, so a pending timer never keeps the coordinator alive. The facade's
// destructor calls Shutdown(), which joins the storage thread and drains its completions.
//
// Held responses: a JoinGroup is held in Member::join_done until its rebalance completes; a
// follower's SyncGroup in Member::sync_done until the leader's arrives. Each is cleared before it
// is called, so every `done` runs exactly once; Shutdown() fails whatever is still held.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio/post.hpp"
#include "asio/strand.hpp"
#include "asio/thread_pool.hpp"
#include "broker/group/coordinator.h"
#include "broker/group/group.h"

namespace sluice::broker {

class GroupCoordinator::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::any_io_executor executor, storage::GroupOffsetStore& store,
       HighWatermarkFn high_watermark, Options options);
  ~Impl();

  // Runs fn(*this) on the strand.
  template <typename Fn>
  void Post(Fn fn) {
    asio::post(strand_, [self = shared_from_this(), fn = std::move(fn)]() mutable { fn(*self); });
  }

  void DoJoinGroup(JoinGroupRequest req, group::JoinCallback done);
  void DoSyncGroup(SyncGroupRequest req, group::SyncCallback done);
  void DoHeartbeat(HeartbeatRequest req, std::function<void(GroupError)> done);
  void DoLeaveGroup(LeaveGroupRequest req, std::function<void(GroupError)> done);
  void DoOffsetCommit(OffsetCommitRequest req, std::function<void(OffsetCommitResult)> done);
  void DoOffsetFetch(OffsetFetchRequest req, std::function<void(OffsetFetchResult)> done);
  void DoListGroups(std::function<void(std::vector<GroupListing>)> done);
  void DoDescribeGroups(std::vector<std::string> group_ids,
                        std::function<void(std::vector<GroupDescription>)> done);
  void DoDeleteGroups(std::vector<std::string> group_ids,
                      std::function<void(std::vector<std::pair<std::string, GroupError>>)> done);

  // Blocking; idempotent; never on the strand. See GroupCoordinator::Shutdown.
  void Shutdown();

 private:
  using GroupPtr = std::shared_ptr<group::Group>;

  // ---- membership and rebalance (coordinator.cc) ----
  group::Group* FindGroup(const std::string& id) const;
  group::Group& CreateGroup(const std::string& id);
  void JoinNewMember(group::Group& g, JoinGroupRequest req, group::JoinCallback done);
  void JoinKnownMember(group::Group& g, group::Member& m, JoinGroupRequest req,
                       group::JoinCallback done);
  // Applies a rejoin's protocols/timeouts and holds its response.
  void UpdateMember(group::Group& g, group::Member& m, JoinGroupRequest req,
                    group::JoinCallback done);
  // Kafka's maybePrepareRebalance followed by an attempt to complete the join.
  void Rebalance(group::Group& g, const std::string& reason);
  void PrepareRebalance(group::Group& g, const std::string& reason);
  void TryCompleteJoin(group::Group& g);
  void CompleteJoin(group::Group& g);
  void OnRebalanceTimer(group::Group& g);
  void ArmRebalanceTimer(group::Group& g, int32_t ms);
  // Removes a member (failing its held responses with kUnknownMemberId) and rebalances.
  void RemoveMember(group::Group& g, const std::string& member_id, const std::string& reason);
  // Removes without rebalancing; returns the held callbacks for the caller to fail.
  std::pair<group::JoinCallback, group::SyncCallback> EraseMember(group::Group& g,
                                                                 const std::string& member_id);
  void ResetSessionTimer(group::Group& g, group::Member& m);
  // Remembers a member id handed out with kMemberIdRequired for `ms`.
  void AddPendingMember(group::Group& g, const std::string& member_id, int32_t ms);
  void OnSessionTimeout(group::Group& g, const std::string& member_id);
  JoinGroupResult MakeJoinResult(const group::Group& g, const group::Member& m) const;
  void DoShutdown();

  // ---- offsets and admin (coordinator_offsets.cc) ----
  // The group in memory, else one created from its stored offsets, else nullptr.
  absl::StatusOr<GroupPtr> FindOrLoadGroup(const std::string& id);
  absl::Status EnsureOffsetsLoaded(group::Group& g);
  void FinishCommit(const GroupPtr& g, const std::vector<storage::CommittedOffset>& offsets,
                    const absl::Status& s, std::function<void(OffsetCommitResult)> done);
  GroupDescription Describe(const std::string& id);

  // Runs fn on the strand and waits for it. Only from outside the strand.
  void RunOnStrandAndWait(std::function<void()> fn);

  asio::strand<asio::any_io_executor> strand_;
  storage::GroupOffsetStore& store_;
  const HighWatermarkFn high_watermark_;
  const Options options_;

  std::map<std::string, GroupPtr> groups_;
  // Groups whose stored offsets are being deleted on the storage thread: reading the store for
  // them would see offsets about to vanish, so they load as empty.
  std::map<std::string, int> deleting_;
  bool shut_down_ = false;

  // Synced store writes, in the order issued (one thread: a commit and a later delete of the same
  // group reach the store in that order).
  asio::thread_pool storage_thread_{1};
  std::once_flag shutdown_once_;
};

}  // namespace sluice::broker
