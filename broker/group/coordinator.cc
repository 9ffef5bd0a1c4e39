// GroupCoordinator facade, membership and the rebalance state machine (Kafka's GroupCoordinator
// for the classic protocol, without static membership).
// Offsets and the admin calls are in coordinator_offsets.cc.

#include "broker/group/coordinator.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <future>

#include "broker/group/coordinator_impl.h"
#include "spdlog/spdlog.h"

namespace sluice::broker {

using group::Group;
using group::GroupState;
using group::Member;

std::string_view GroupErrorName(GroupError e) {
  switch (e) {
    case GroupError::kNone:
      return "NONE";
    case GroupError::kCoordinatorNotAvailable:
      return "COORDINATOR_NOT_AVAILABLE";
    case GroupError::kRebalanceInProgress:
      return "REBALANCE_IN_PROGRESS";
    case GroupError::kIllegalGeneration:
      return "ILLEGAL_GENERATION";
    case GroupError::kUnknownMemberId:
      return "UNKNOWN_MEMBER_ID";
    case GroupError::kInconsistentGroupProtocol:
      return "INCONSISTENT_GROUP_PROTOCOL";
    case GroupError::kInvalidSessionTimeout:
      return "INVALID_SESSION_TIMEOUT";
    case GroupError::kGroupIdNotFound:
      return "GROUP_ID_NOT_FOUND";
    case GroupError::kNonEmptyGroup:
      return "NON_EMPTY_GROUP";
    case GroupError::kInvalidGroupId:
      return "INVALID_GROUP_ID";
    case GroupError::kMemberIdRequired:
      return "MEMBER_ID_REQUIRED";
    case GroupError::kStorageError:
      return "KAFKA_STORAGE_ERROR";
  }
  return "UNKNOWN";
}

// ---------------------------------------------------------------------------------------------
// Facade

GroupCoordinator::GroupCoordinator(asio::any_io_executor executor,
                                   storage::GroupOffsetStore& offsets,
                                   HighWatermarkFn high_watermark, Options options)
    : impl_(std::make_shared<Impl>(std::move(executor), offsets, std::move(high_watermark),
                                   options)) {}

GroupCoordinator::~GroupCoordinator() { impl_->Shutdown(); }

void GroupCoordinator::JoinGroup(JoinGroupRequest req, std::function<void(JoinGroupResult)> done) {
  impl_->Post([req = std::move(req), done = std::move(done)](Impl& impl) mutable {
    impl.DoJoinGroup(std::move(req), std::move(done));
  });
}

void GroupCoordinator::SyncGroup(SyncGroupRequest req, std::function<void(SyncGroupResult)> done) {
  impl_->Post([req = std::move(req), done = std::move(done)](Impl& impl) mutable {
    impl.DoSyncGroup(std::move(req), std::move(done));
  });
}

void GroupCoordinator::Heartbeat(HeartbeatRequest req, std::function<void(GroupError)> done) {
  impl_->Post([req = std::move(req), done = std::move(done)](Impl& impl) mutable {
    impl.DoHeartbeat(std::move(req), std::move(done));
  });
}

void GroupCoordinator::LeaveGroup(LeaveGroupRequest req, std::function<void(GroupError)> done) {
  impl_->Post([req = std::move(req), done = std::move(done)](Impl& impl) mutable {
    impl.DoLeaveGroup(std::move(req), std::move(done));
  });
}

void GroupCoordinator::OffsetCommit(OffsetCommitRequest req,
                                    std::function<void(OffsetCommitResult)> done) {
  impl_->Post([req = std::move(req), done = std::move(done)](Impl& impl) mutable {
    impl.DoOffsetCommit(std::move(req), std::move(done));
  });
}

void GroupCoordinator::OffsetFetch(OffsetFetchRequest req,
                                   std::function<void(OffsetFetchResult)> done) {
  impl_->Post([req = std::move(req), done = std::move(done)](Impl& impl) mutable {
    impl.DoOffsetFetch(std::move(req), std::move(done));
  });
}

void GroupCoordinator::ListGroups(std::function<void(std::vector<GroupListing>)> done) {
  impl_->Post([done = std::move(done)](Impl& impl) mutable { impl.DoListGroups(std::move(done)); });
}

void GroupCoordinator::DescribeGroups(std::vector<std::string> group_ids,
                                      std::function<void(std::vector<GroupDescription>)> done) {
  impl_->Post([ids = std::move(group_ids), done = std::move(done)](Impl& impl) mutable {
    impl.DoDescribeGroups(std::move(ids), std::move(done));
  });
}

void GroupCoordinator::DeleteGroups(
    std::vector<std::string> group_ids,
    std::function<void(std::vector<std::pair<std::string, GroupError>>)> done) {
  impl_->Post([ids = std::move(group_ids), done = std::move(done)](Impl& impl) mutable {
    impl.DoDeleteGroups(std::move(ids), std::move(done));
  });
}

void GroupCoordinator::Shutdown() { impl_->Shutdown(); }

// ---------------------------------------------------------------------------------------------
// Impl: lifecycle

GroupCoordinator::Impl::Impl(asio::any_io_executor executor, storage::GroupOffsetStore& store,
                             HighWatermarkFn high_watermark, Options options)
    : strand_(asio::make_strand(std::move(executor))),
      store_(store),
      high_watermark_(std::move(high_watermark)),
      options_(options) {}

// Shutdown() has joined the storage thread, so destroying the pool here (on whichever thread
// drops the last reference) never joins a thread from itself.
GroupCoordinator::Impl::~Impl() = default;

void GroupCoordinator::Impl::RunOnStrandAndWait(std::function<void()> fn) {
  std::promise<void> done;
  asio::post(strand_, [self = shared_from_this(), &fn, &done] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void GroupCoordinator::Impl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    // Waiting for the strand from the strand would never return.
    assert(!strand_.running_in_this_thread());
    // 1. Refuse new calls, fail held responses, stop timers. From here on nothing new reaches the
    //    storage thread.
    RunOnStrandAndWait([this] { DoShutdown(); });
    // 2. Let in-flight offset writes and deletes finish; each posts its completion to the strand.
    storage_thread_.join();
    // 3. Those completions were posted before this barrier, so they have run when it returns.
    RunOnStrandAndWait([] {});
  });
}

void GroupCoordinator::Impl::DoShutdown() {
  shut_down_ = true;
  std::vector<group::JoinCallback> joins;
  std::vector<group::SyncCallback> syncs;
  for (auto& [id, g] : groups_) {
    ++g->rebalance_epoch;
    g->rebalance_timer.cancel();
    g->pending_members.clear();
    for (auto& [mid, m] : g->members) {
      ++m->session_epoch;
      m->session_timer.cancel();
      if (m->join_done) joins.push_back(std::exchange(m->join_done, nullptr));
      if (m->sync_done) syncs.push_back(std::exchange(m->sync_done, nullptr));
    }
  }
  spdlog::info("group coordinator shut down: {} groups, {} held joins and {} held syncs failed",
               groups_.size(), joins.size(), syncs.size());
  for (auto& cb : joins) {
    JoinGroupResult r;
    r.error = GroupError::kCoordinatorNotAvailable;
    cb(std::move(r));
  }
  for (auto& cb : syncs) cb(SyncGroupResult{GroupError::kCoordinatorNotAvailable, {}});
}

// ---------------------------------------------------------------------------------------------
// Impl: requests

namespace {

JoinGroupResult JoinError(GroupError e, std::string member_id = {}) {
  JoinGroupResult r;
  r.error = e;
  r.member_id = std::move(member_id);
  return r;
}

}  // namespace

group::Group* GroupCoordinator::Impl::FindGroup(const std::string& id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

group::Group& GroupCoordinator::Impl::CreateGroup(const std::string& id) {
  auto [it, inserted] = groups_.emplace(id, std::make_shared<Group>(id, strand_));
  return *it->second;
}

void GroupCoordinator::Impl::DoJoinGroup(JoinGroupRequest req, group::JoinCallback done) {
  if (shut_down_) return done(JoinError(GroupError::kCoordinatorNotAvailable, req.member_id));
  if (!group::IsValidGroupId(req.group_id)) {
    return done(JoinError(GroupError::kInvalidGroupId, req.member_id));
  }
  if (req.session_timeout_ms < options_.min_session_timeout_ms ||
      req.session_timeout_ms > options_.max_session_timeout_ms) {
    return done(JoinError(GroupError::kInvalidSessionTimeout, req.member_id));
  }
  // JoinGroup v0 has no rebalance timeout; Kafka uses the session timeout then.
  if (req.rebalance_timeout_ms <= 0) req.rebalance_timeout_ms = req.session_timeout_ms;

  Group* g = FindGroup(req.group_id);
  Member* m = nullptr;
  if (!req.member_id.empty()) {
    m = g ? g->FindMember(req.member_id) : nullptr;
    // An id handed out with kMemberIdRequired joins as a new member.
    const bool pending = g != nullptr && g->pending_members.contains(req.member_id);
    if (m == nullptr && !pending) {
      return done(JoinError(GroupError::kUnknownMemberId, req.member_id));
    }
  }
  bool supported = g ? g->SupportsProtocols(req.member_id, req.protocol_type, req.protocols)
                     : !req.protocol_type.empty() && !req.protocols.empty();
  if (!supported) return done(JoinError(GroupError::kInconsistentGroupProtocol, req.member_id));

  if (g == nullptr) g = &CreateGroup(req.group_id);
  if (m == nullptr && req.member_id.empty() && req.require_known_member_id) {
    std::string id = group::NewMemberId(req.client_id);
    AddPendingMember(*g, id, req.session_timeout_ms);
    spdlog::debug("group {}: member id {} handed out to client {} from {}", g->id, id,
                  req.client_id, req.client_host);
    return done(JoinError(GroupError::kMemberIdRequired, std::move(id)));
  }
  if (m == nullptr) {
    g->pending_members.erase(req.member_id);
    JoinNewMember(*g, std::move(req), std::move(done));
  } else {
    JoinKnownMember(*g, *m, std::move(req), std::move(done));
  }
}

void GroupCoordinator::Impl::JoinNewMember(Group& g, JoinGroupRequest req,
                                           group::JoinCallback done) {
  auto owned = std::make_unique<Member>(strand_);
  Member& m = *owned;
  // A pending id (kMemberIdRequired) is kept; a first join without one gets a fresh id.
  m.id = req.member_id.empty() ? group::NewMemberId(req.client_id) : req.member_id;
  m.join_seq = g.next_join_seq++;
  if (g.members.empty()) g.protocol_type = req.protocol_type;
  if (g.leader_id.empty()) g.leader_id = m.id;
  g.members.emplace(m.id, std::move(owned));
  if (g.state == GroupState::kPreparingRebalance && g.in_initial_delay) g.new_member_added = true;
  spdlog::debug("group {}: new member {} (client {} from {})", g.id, m.id, req.client_id,
                req.client_host);
  UpdateMember(g, m, std::move(req), std::move(done));
  Rebalance(g, "member " + m.id + " joined");
}

void GroupCoordinator::Impl::JoinKnownMember(Group& g, Member& m, JoinGroupRequest req,
                                             group::JoinCallback done) {
  switch (g.state) {
    case GroupState::kPreparingRebalance:
      UpdateMember(g, m, std::move(req), std::move(done));
      TryCompleteJoin(g);
      return;
    case GroupState::kCompletingRebalance:
      if (m.Matches(req.protocols)) {
        // The member lost our JoinGroup response: send it again.
        ResetSessionTimer(g, m);
        return done(MakeJoinResult(g, m));
      }
      break;
    case GroupState::kStable:
      if (m.id != g.leader_id && m.Matches(req.protocols)) {
        // A follower with nothing new: hand it the current generation so it can SyncGroup.
        ResetSessionTimer(g, m);
        return done(MakeJoinResult(g, m));
      }
      break;
    case GroupState::kEmpty:
    case GroupState::kDead:
      // Invariant: an Empty group has no members, so `m` cannot exist.
      assert(false);
      return done(JoinError(GroupError::kUnknownMemberId, m.id));
  }
  std::string reason = m.id == g.leader_id && m.Matches(req.protocols)
                           ? "leader " + m.id + " rejoined"
                           : "member " + m.id + " changed its protocols";
  UpdateMember(g, m, std::move(req), std::move(done));
  Rebalance(g, reason);
}

void GroupCoordinator::Impl::UpdateMember(Group& g, Member& m, JoinGroupRequest req,
                                          group::JoinCallback done) {
  if (g.members.size() == 1) g.protocol_type = req.protocol_type;
  m.client_id = std::move(req.client_id);
  m.client_host = std::move(req.client_host);
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.protocols = std::move(req.protocols);
  // A second JoinGroup while one is held (a client retrying on a new connection) supersedes it.
  group::JoinCallback superseded = std::exchange(m.join_done, std::move(done));
  ResetSessionTimer(g, m);
  if (superseded) superseded(JoinError(GroupError::kRebalanceInProgress, m.id));
}

void GroupCoordinator::Impl::DoSyncGroup(SyncGroupRequest req, group::SyncCallback done) {
  if (shut_down_) return done({GroupError::kCoordinatorNotAvailable, {}});
  if (!group::IsValidGroupId(req.group_id)) return done({GroupError::kInvalidGroupId, {}});
  Group* g = FindGroup(req.group_id);
  Member* m = g ? g->FindMember(req.member_id) : nullptr;
  if (m == nullptr) return done({GroupError::kUnknownMemberId, {}});
  if (req.generation_id != g->generation) return done({GroupError::kIllegalGeneration, {}});

  switch (g->state) {
    case GroupState::kPreparingRebalance:
      return done({GroupError::kRebalanceInProgress, {}});
    case GroupState::kStable:
      ResetSessionTimer(*g, *m);
      return done({GroupError::kNone, m->assignment});
    case GroupState::kEmpty:
    case GroupState::kDead:
      return done({GroupError::kUnknownMemberId, {}});
    case GroupState::kCompletingRebalance:
      break;
  }

  ResetSessionTimer(*g, *m);
  group::SyncCallback superseded = std::exchange(m->sync_done, std::move(done));
  if (superseded) superseded({GroupError::kRebalanceInProgress, {}});
  if (m->id != g->leader_id) return;  // held until the leader's SyncGroup

  std::map<std::string, std::string> given(std::make_move_iterator(req.assignments.begin()),
                                           std::make_move_iterator(req.assignments.end()));
  std::vector<std::pair<group::SyncCallback, SyncGroupResult>> replies;
  for (auto& [id, member] : g->members) {
    auto it = given.find(id);
    member->assignment = it == given.end() ? std::string() : std::move(it->second);
    if (member->sync_done) {
      replies.emplace_back(std::exchange(member->sync_done, nullptr),
                           SyncGroupResult{GroupError::kNone, member->assignment});
    }
  }
  g->state = GroupState::kStable;
  spdlog::info("group {} generation {} is stable: leader {} assigned {} members", g->id,
               g->generation, g->leader_id, g->members.size());
  for (auto& [cb, result] : replies) cb(std::move(result));
}

void GroupCoordinator::Impl::DoHeartbeat(HeartbeatRequest req,
                                         std::function<void(GroupError)> done) {
  if (shut_down_) return done(GroupError::kCoordinatorNotAvailable);
  if (!group::IsValidGroupId(req.group_id)) return done(GroupError::kInvalidGroupId);
  Group* g = FindGroup(req.group_id);
  Member* m = g ? g->FindMember(req.member_id) : nullptr;
  if (m == nullptr) return done(GroupError::kUnknownMemberId);
  if (req.generation_id != g->generation) return done(GroupError::kIllegalGeneration);
  ResetSessionTimer(*g, *m);
  done(g->state == GroupState::kPreparingRebalance ? GroupError::kRebalanceInProgress
                                                   : GroupError::kNone);
}

void GroupCoordinator::Impl::DoLeaveGroup(LeaveGroupRequest req,
                                          std::function<void(GroupError)> done) {
  if (shut_down_) return done(GroupError::kCoordinatorNotAvailable);
  if (!group::IsValidGroupId(req.group_id)) return done(GroupError::kInvalidGroupId);
  Group* g = FindGroup(req.group_id);
  if (g == nullptr || g->FindMember(req.member_id) == nullptr) {
    return done(GroupError::kUnknownMemberId);
  }
  RemoveMember(*g, req.member_id, "member " + req.member_id + " left");
  done(GroupError::kNone);
}

// ---------------------------------------------------------------------------------------------
// Impl: the rebalance state machine

void GroupCoordinator::Impl::Rebalance(Group& g, const std::string& reason) {
  if (g.state != GroupState::kPreparingRebalance) PrepareRebalance(g, reason);
  TryCompleteJoin(g);
}

void GroupCoordinator::Impl::PrepareRebalance(Group& g, const std::string& reason) {
  std::vector<group::SyncCallback> failed_syncs;
  if (g.state == GroupState::kCompletingRebalance) {
    // The assignment being awaited belongs to a generation that will never be stable.
    for (auto& [id, m] : g.members) {
      m->assignment.clear();
      if (m->sync_done) failed_syncs.push_back(std::exchange(m->sync_done, nullptr));
    }
  }
  bool initial = g.state == GroupState::kEmpty && options_.initial_rebalance_delay_ms > 0;
  g.state = GroupState::kPreparingRebalance;
  int32_t timeout = g.RebalanceTimeoutMs();
  g.in_initial_delay = initial;
  g.new_member_added = false;
  if (initial) {
    g.initial_delay_remaining_ms = std::max(timeout - options_.initial_rebalance_delay_ms, 0);
    ArmRebalanceTimer(g, options_.initial_rebalance_delay_ms);
  } else {
    ArmRebalanceTimer(g, timeout);
  }
  spdlog::info("group {}: preparing rebalance from generation {} with {} members ({})", g.id,
               g.generation, g.members.size(), reason);
  for (auto& cb : failed_syncs) cb({GroupError::kRebalanceInProgress, {}});
}

void GroupCoordinator::Impl::TryCompleteJoin(Group& g) {
  if (g.state != GroupState::kPreparingRebalance) return;
  // The initial delay only ends when its timer does (more members may still be coming), unless
  // there is nobody left to wait for.
  if (g.members.empty() || (!g.in_initial_delay && g.AllMembersJoined())) CompleteJoin(g);
}

void GroupCoordinator::Impl::OnRebalanceTimer(Group& g) {
  if (g.state != GroupState::kPreparingRebalance) return;
  if (g.in_initial_delay && g.new_member_added && g.initial_delay_remaining_ms > 0) {
    // Kafka's InitialDelayedJoin: members are still arriving; wait another delay, bounded by
    // the rebalance timeout.
    int32_t delay = std::min(options_.initial_rebalance_delay_ms, g.initial_delay_remaining_ms);
    g.initial_delay_remaining_ms =
        std::max(g.initial_delay_remaining_ms - options_.initial_rebalance_delay_ms, 0);
    g.new_member_added = false;
    ArmRebalanceTimer(g, delay);
    return;
  }
  CompleteJoin(g);
}

void GroupCoordinator::Impl::CompleteJoin(Group& g) {
  ++g.rebalance_epoch;
  g.rebalance_timer.cancel();
  g.in_initial_delay = false;
  g.new_member_added = false;

  std::vector<std::string> dropped;
  for (const auto& [id, m] : g.members) {
    if (!m->join_done) dropped.push_back(id);
  }
  for (const auto& id : dropped) {
    // Not awaiting a join, hence no held callbacks to fail.
    EraseMember(g, id);
    spdlog::info("group {}: removed member {}: it did not rejoin within the rebalance timeout",
                 g.id, id);
  }

  ++g.generation;
  if (g.members.empty()) {
    g.protocol.clear();
    g.leader_id.clear();
    g.state = GroupState::kEmpty;
    spdlog::info("group {} is empty at generation {}", g.id, g.generation);
    return;
  }
  g.protocol = g.SelectProtocol();
  g.state = GroupState::kCompletingRebalance;

  std::string names;
  std::vector<std::pair<group::JoinCallback, JoinGroupResult>> replies;
  for (Member* m : g.MembersInJoinOrder()) {
    if (!names.empty()) names += ", ";
    names += m->id;
    replies.emplace_back(std::exchange(m->join_done, nullptr), MakeJoinResult(g, *m));
    ResetSessionTimer(g, *m);
  }
  spdlog::info("group {} rebalanced: generation {}, protocol {}, leader {}, {} members [{}]", g.id,
               g.generation, g.protocol, g.leader_id, g.members.size(), names);
  for (auto& [cb, result] : replies) cb(std::move(result));
}

void GroupCoordinator::Impl::ArmRebalanceTimer(Group& g, int32_t ms) {
  uint64_t epoch = ++g.rebalance_epoch;
  g.rebalance_timer.expires_after(std::chrono::milliseconds(ms));
  g.rebalance_timer.async_wait([weak = weak_from_this(), wg = g.weak_from_this(),
                                epoch](const std::error_code& ec) {
    auto self = weak.lock();
    auto gp = wg.lock();
    if (ec || !self || !gp || self->shut_down_ || gp->rebalance_epoch != epoch) return;
    self->OnRebalanceTimer(*gp);
  });
}

std::pair<group::JoinCallback, group::SyncCallback> GroupCoordinator::Impl::EraseMember(
    Group& g, const std::string& member_id) {
  auto node = g.members.extract(member_id);
  if (node.empty()) return {};
  Member& m = *node.mapped();
  ++m.session_epoch;
  if (g.leader_id == member_id) g.leader_id = g.FirstMemberId();
  return {std::exchange(m.join_done, nullptr), std::exchange(m.sync_done, nullptr)};
}

void GroupCoordinator::Impl::RemoveMember(Group& g, const std::string& member_id,
                                          const std::string& reason) {
  auto [join_done, sync_done] = EraseMember(g, member_id);
  if (g.state != GroupState::kEmpty) Rebalance(g, reason);
  // Kafka answers a removed member's held requests with UNKNOWN_MEMBER_ID: it must join afresh.
  if (join_done) join_done(JoinError(GroupError::kUnknownMemberId, member_id));
  if (sync_done) sync_done({GroupError::kUnknownMemberId, {}});
}

void GroupCoordinator::Impl::ResetSessionTimer(Group& g, Member& m) {
  uint64_t epoch = ++m.session_epoch;
  m.session_timer.expires_after(std::chrono::milliseconds(m.session_timeout_ms));
  m.session_timer.async_wait([weak = weak_from_this(), wg = g.weak_from_this(),
                              id = m.id, epoch](const std::error_code& ec) {
    auto self = weak.lock();
    auto gp = wg.lock();
    if (ec || !self || !gp || self->shut_down_) return;
    Member* member = gp->FindMember(id);
    if (member == nullptr || member->session_epoch != epoch) return;
    self->OnSessionTimeout(*gp, id);
  });
}

void GroupCoordinator::Impl::AddPendingMember(Group& g, const std::string& member_id, int32_t ms) {
  auto timer = std::make_unique<asio::steady_timer>(strand_);
  timer->expires_after(std::chrono::milliseconds(ms));
  timer->async_wait([weak = weak_from_this(), wg = g.weak_from_this(),
                     member_id](const std::error_code& ec) {
    auto self = weak.lock();
    auto gp = wg.lock();
    // Cancelled (the id was used, the group deleted) or the coordinator is gone.
    if (ec || !self || !gp || self->shut_down_) return;
    gp->pending_members.erase(member_id);
  });
  g.pending_members[member_id] = std::move(timer);
}

void GroupCoordinator::Impl::OnSessionTimeout(Group& g, const std::string& member_id) {
  Member& m = *g.FindMember(member_id);
  // A member waiting for us (held JoinGroup or SyncGroup) cannot heartbeat; the rebalance timeout
  // or the leader's session bounds that wait instead.
  if (m.join_done || m.sync_done) return ResetSessionTimer(g, m);
  spdlog::info("group {}: member {} missed its session timeout of {} ms", g.id, member_id,
               m.session_timeout_ms);
  RemoveMember(g, member_id, "member " + member_id + " session timed out");
}

JoinGroupResult GroupCoordinator::Impl::MakeJoinResult(const Group& g, const Member& m) const {
  JoinGroupResult r;
  r.generation_id = g.generation;
  r.protocol_name = g.protocol;
  r.leader_id = g.leader_id;
  r.member_id = m.id;
  if (m.id == g.leader_id) {
    for (const Member* member : g.MembersInJoinOrder()) {
      const std::string* md = member->MetadataFor(g.protocol);
      r.members.push_back({member->id, md ? *md : std::string()});
    }
  }
  return r;
}

}  // namespace sluice::broker
