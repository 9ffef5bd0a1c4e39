// FakeBroker's consumer groups: Kafka's classic rebalance protocol, simplified (no static
// membership, no MEMBER_ID_REQUIRED round trip, no delayed initial rebalance).

#include <algorithm>

#include "asio/experimental/as_tuple.hpp"
#include "client/testing/fake_broker.h"

namespace sluice::client::testing {
namespace {

using asio::experimental::as_tuple;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);

void SetError(native::Error* e, native::ErrorCode code, std::string message = {}) {
  e->set_code(code);
  e->set_message(std::move(message));
}

}  // namespace

FakeBroker::Group& FakeBroker::GroupLocked(const std::string& id) {
  Group& g = groups_[id];
  if (!g.signal) {
    g.signal = std::make_shared<asio::steady_timer>(io_);
    g.signal->expires_at(Clock::time_point::max());
  }
  return g;
}

void FakeBroker::Wake(Group& g) { g.signal->cancel(); }

void FakeBroker::BeginRebalanceLocked(Group& g, Clock::time_point now) {
  if (g.state != "PreparingRebalance") {
    g.state = "PreparingRebalance";
    std::chrono::milliseconds longest{0};
    for (auto& [id, m] : g.members) {
      m.joined = false;
      longest = std::max(longest, m.rebalance_timeout);
    }
    g.rebalance_deadline = now + longest;
  }
  Wake(g);
}

void FakeBroker::MaybeCompleteJoinLocked(Group& g) {
  if (g.state != "PreparingRebalance") return;
  if (g.members.empty()) {
    g.state = "Empty";
    ++g.generation;
    g.leader.clear();
    Wake(g);
    return;
  }
  for (const auto& [id, m] : g.members) {
    if (!m.joined) return;
  }
  ++g.generation;
  g.state = "CompletingRebalance";
  if (!g.members.count(g.leader)) g.leader = g.members.begin()->first;
  // The first protocol of the leader's list that every member supports.
  g.protocol.clear();
  for (const auto& [name, meta] : g.members.at(g.leader).protocols) {
    bool everyone = true;
    for (const auto& [id, m] : g.members) {
      everyone &= std::any_of(m.protocols.begin(), m.protocols.end(),
                              [&](const auto& p) { return p.first == name; });
    }
    if (everyone) {
      g.protocol = name;
      break;
    }
  }
  for (auto& [id, m] : g.members) {
    native::JoinGroupResponse r;
    r.set_generation_id(g.generation);
    r.set_protocol_name(g.protocol);
    r.set_leader_id(g.leader);
    r.set_member_id(id);
    if (id == g.leader) {
      for (const auto& [other_id, other] : g.members) {
        auto* mm = r.add_members();
        mm->set_member_id(other_id);
        for (const auto& [name, meta] : other.protocols) {
          if (name == g.protocol) mm->set_metadata(meta);
        }
      }
    }
    m.assignment.clear();
    m.join_response = std::move(r);
  }
  Wake(g);
}

void FakeBroker::RemoveMemberLocked(Group& g, const std::string& member_id, Clock::time_point now) {
  if (g.members.erase(member_id) == 0) return;
  if (g.members.empty()) {
    g.state = "PreparingRebalance";
    MaybeCompleteJoinLocked(g);  // becomes Empty
    return;
  }
  BeginRebalanceLocked(g, now);
  MaybeCompleteJoinLocked(g);
}

void FakeBroker::TickGroupsLocked(Clock::time_point now) {
  for (auto& [gid, g] : groups_) {
    if (g.state == "PreparingRebalance" && now >= g.rebalance_deadline) {
      std::vector<std::string> late;
      for (const auto& [id, m] : g.members) {
        if (!m.joined) late.push_back(id);
      }
      for (const auto& id : late) g.members.erase(id);
      MaybeCompleteJoinLocked(g);
    } else if (g.state == "Stable" || g.state == "CompletingRebalance") {
      std::vector<std::string> expired;
      for (const auto& [id, m] : g.members) {
        if (m.last_seen + m.session_timeout < now) expired.push_back(id);
      }
      for (const auto& id : expired) RemoveMemberLocked(g, id, now);
    }
  }
}

asio::awaitable<void> FakeBroker::HandleJoin(const native::JoinGroupRequest& r,
                                             native::ResponseHeader* out) {
  auto* resp = out->mutable_join_group();
  std::string member_id = r.member_id();
  {
    std::lock_guard lock(mu_);
    if (r.group_id().empty()) {
      SetError(resp->mutable_error(), native::INVALID_GROUP_ID, "empty group id");
      co_return;
    }
    Group& g = GroupLocked(r.group_id());
    const Clock::time_point now = Clock::now();
    if (!g.members.empty() && g.protocol_type != r.protocol_type()) {
      SetError(resp->mutable_error(), native::INCONSISTENT_GROUP_PROTOCOL, "protocol type");
      co_return;
    }
    // Some protocol of the joiner must be supported by every other member.
    bool shared = g.members.empty() || (g.members.size() == 1 && g.members.count(member_id));
    for (const auto& p : r.protocols()) {
      bool everyone = true;
      for (const auto& [id, m] : g.members) {
        if (id == member_id) continue;
        everyone &= std::any_of(m.protocols.begin(), m.protocols.end(),
                                [&](const auto& mp) { return mp.first == p.name(); });
      }
      shared |= everyone;
    }
    if (!shared) {
      SetError(resp->mutable_error(), native::INCONSISTENT_GROUP_PROTOCOL,
               "no assignor in common with the group's members");
      co_return;
    }
    if (member_id.empty()) {
      member_id = r.client_id() + "-" + std::to_string(g.next_member++);
    } else if (!g.members.count(member_id)) {
      SetError(resp->mutable_error(), native::UNKNOWN_MEMBER_ID, "unknown member " + member_id);
      co_return;
    }
    g.protocol_type = r.protocol_type();
    Member& m = g.members[member_id];
    m.id = member_id;
    m.client_id = r.client_id();
    m.protocols.clear();
    for (const auto& p : r.protocols()) m.protocols.emplace_back(p.name(), p.metadata());
    m.session_timeout = std::chrono::milliseconds(r.session_timeout_ms());
    m.rebalance_timeout = std::chrono::milliseconds(r.rebalance_timeout_ms());
    m.last_seen = now;
    m.join_response.reset();
    BeginRebalanceLocked(g, now);
    m.joined = true;
    MaybeCompleteJoinLocked(g);
  }
  for (;;) {
    std::shared_ptr<asio::steady_timer> signal;
    {
      std::lock_guard lock(mu_);
      Group& g = GroupLocked(r.group_id());
      auto it = g.members.find(member_id);
      if (it == g.members.end()) {
        SetError(resp->mutable_error(), native::UNKNOWN_MEMBER_ID, "removed while joining");
        co_return;
      }
      if (it->second.join_response) {
        *resp = std::move(*it->second.join_response);
        it->second.join_response.reset();
        it->second.last_seen = Clock::now();
        co_return;
      }
      signal = g.signal;
    }
    co_await signal->async_wait(kUseTuple);
  }
}

asio::awaitable<void> FakeBroker::HandleSync(const native::SyncGroupRequest& r,
                                             native::ResponseHeader* out) {
  auto* resp = out->mutable_sync_group();
  for (bool first = true;; first = false) {
    std::shared_ptr<asio::steady_timer> signal;
    {
      std::lock_guard lock(mu_);
      Group& g = GroupLocked(r.group_id());
      auto it = g.members.find(r.member_id());
      if (it == g.members.end()) {
        SetError(resp->mutable_error(), native::UNKNOWN_MEMBER_ID, "unknown member");
        co_return;
      }
      if (r.generation_id() != g.generation) {
        SetError(resp->mutable_error(), native::ILLEGAL_GENERATION, "stale generation");
        co_return;
      }
      if (g.state == "PreparingRebalance") {
        SetError(resp->mutable_error(), native::REBALANCE_IN_PROGRESS, "rebalancing");
        co_return;
      }
      it->second.last_seen = Clock::now();
      if (first && g.state == "CompletingRebalance" && r.member_id() == g.leader) {
        for (const auto& a : r.assignments()) {
          auto m = g.members.find(a.member_id());
          if (m != g.members.end()) m->second.assignment = a.assignment();
        }
        g.state = "Stable";
        Wake(g);
      }
      if (g.state == "Stable") {
        resp->set_assignment(it->second.assignment);
        co_return;
      }
      signal = g.signal;
    }
    co_await signal->async_wait(kUseTuple);
  }
}

void FakeBroker::HandleHeartbeat(const native::HeartbeatRequest& r, native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_heartbeat();
  Group& g = GroupLocked(r.group_id());
  auto it = g.members.find(r.member_id());
  if (it == g.members.end()) {
    SetError(resp->mutable_error(), native::UNKNOWN_MEMBER_ID, "unknown member");
  } else if (r.generation_id() != g.generation) {
    SetError(resp->mutable_error(), native::ILLEGAL_GENERATION, "stale generation");
  } else if (g.state == "PreparingRebalance") {
    it->second.last_seen = Clock::now();
    SetError(resp->mutable_error(), native::REBALANCE_IN_PROGRESS, "rebalancing");
  } else {
    it->second.last_seen = Clock::now();
  }
}

void FakeBroker::HandleLeave(const native::LeaveGroupRequest& r, native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_leave_group();
  Group& g = GroupLocked(r.group_id());
  if (!g.members.count(r.member_id())) {
    SetError(resp->mutable_error(), native::UNKNOWN_MEMBER_ID, "unknown member");
    return;
  }
  RemoveMemberLocked(g, r.member_id(), Clock::now());
}

void FakeBroker::HandleOffsetCommit(const native::OffsetCommitRequest& r,
                                    native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_offset_commit();
  Group& g = GroupLocked(r.group_id());
  native::ErrorCode code = native::NONE;
  if (r.generation_id() < 0 && r.member_id().empty()) {
    if (!g.members.empty()) code = native::UNKNOWN_MEMBER_ID;
  } else if (!g.members.count(r.member_id())) {
    code = native::UNKNOWN_MEMBER_ID;
  } else if (r.generation_id() != g.generation) {
    code = native::ILLEGAL_GENERATION;
  } else if (g.state == "CompletingRebalance") {
    code = native::REBALANCE_IN_PROGRESS;
  }
  for (const auto& p : r.partitions()) {
    auto* result = resp->add_partitions();
    result->set_topic(p.topic());
    result->set_partition(p.partition());
    if (code != native::NONE) {
      SetError(result->mutable_error(), code, "commit rejected");
      continue;
    }
    g.offsets[{p.topic(), p.partition()}] = p.offset();
  }
}

void FakeBroker::HandleOffsetFetch(const native::OffsetFetchRequest& r,
                                   native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_offset_fetch();
  Group& g = GroupLocked(r.group_id());
  auto add = [&](const std::string& topic, int32_t partition) {
    auto* p = resp->add_partitions();
    p->set_topic(topic);
    p->set_partition(partition);
    auto it = g.offsets.find({topic, partition});
    p->set_offset(it == g.offsets.end() ? -1 : it->second);
  };
  if (r.partitions().empty()) {
    for (const auto& [tp, offset] : g.offsets) add(tp.topic, tp.partition);
  } else {
    for (const auto& p : r.partitions()) add(p.topic(), p.partition());
  }
}

void FakeBroker::HandleListGroups(native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_list_groups();
  for (const auto& [id, g] : groups_) {
    auto* gl = resp->add_groups();
    gl->set_group_id(id);
    gl->set_protocol_type(g.protocol_type);
    gl->set_state(g.state);
  }
}

void FakeBroker::HandleDescribeGroups(const native::DescribeGroupsRequest& r,
                                      native::ResponseHeader* out) {
  std::lock_guard lock(mu_);
  auto* resp = out->mutable_describe_groups();
  for (const auto& id : r.group_ids()) {
    auto* d = resp->add_groups();
    d->set_group_id(id);
    auto it = groups_.find(id);
    if (it == groups_.end()) {
      SetError(d->mutable_error(), native::GROUP_ID_NOT_FOUND, "no group " + id);
      continue;
    }
    const Group& g = it->second;
    d->set_state(g.state);
    d->set_protocol_type(g.protocol_type);
    d->set_protocol(g.protocol);
    d->set_generation_id(g.generation);
    for (const auto& [mid, m] : g.members) {
      auto* dm = d->add_members();
      dm->set_member_id(mid);
      dm->set_client_id(m.client_id);
      dm->set_client_host("127.0.0.1");
      for (const auto& [name, meta] : m.protocols) {
        if (name == g.protocol) dm->set_metadata(meta);
      }
      dm->set_assignment(m.assignment);
    }
    for (const auto& [tp, offset] : g.offsets) {
      auto* po = d->add_offsets();
      po->set_topic(tp.topic);
      po->set_partition(tp.partition);
      po->set_committed_offset(offset);
      int64_t hw = -1;
      auto t = topics_.find(tp.topic);
      if (t != topics_.end() && tp.partition < static_cast<int32_t>(t->second.partitions.size())) {
        hw = t->second.partitions[tp.partition].high_watermark;
      }
      po->set_high_watermark(hw);
      po->set_lag(hw < 0 ? 0 : std::max<int64_t>(0, hw - offset));
    }
  }
}

std::optional<int64_t> FakeBroker::Committed(const std::string& group,
                                             const TopicPartition& tp) const {
  std::lock_guard lock(mu_);
  auto g = groups_.find(group);
  if (g == groups_.end()) return std::nullopt;
  auto it = g->second.offsets.find(tp);
  if (it == g->second.offsets.end()) return std::nullopt;
  return it->second;
}

int32_t FakeBroker::Generation(const std::string& group) const {
  std::lock_guard lock(mu_);
  auto g = groups_.find(group);
  return g == groups_.end() ? -1 : g->second.generation;
}

std::string FakeBroker::GroupState(const std::string& group) const {
  std::lock_guard lock(mu_);
  auto g = groups_.find(group);
  return g == groups_.end() ? "" : g->second.state;
}

std::vector<std::string> FakeBroker::Members(const std::string& group) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  auto g = groups_.find(group);
  if (g == groups_.end()) return out;
  for (const auto& [id, m] : g->second.members) out.push_back(id);
  return out;
}

}  // namespace sluice::client::testing
