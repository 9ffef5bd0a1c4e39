// Consumer group handlers: FindCoordinator and the calls forwarded to the GroupCoordinator.
// Each converts the native request to the coordinator's, awaits it (group_calls re-posts the
// result to this connection's executor) and converts the result back.
#include <algorithm>
#include <limits>

#include "broker/group_calls.h"
#include "broker/native/errors.h"
#include "broker/native/handler.h"

namespace sluice::broker::native {
namespace {

int32_t ClampToInt32(uint32_t v) {
  return static_cast<int32_t>(std::min<uint32_t>(v, std::numeric_limits<int32_t>::max()));
}

// "1.2.3.4:5678" -> "1.2.3.4" (Kafka reports the client host without the port).
std::string HostOf(const std::string& peer) {
  size_t colon = peer.rfind(':');
  std::string host = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

asio::awaitable<void> HandleFindCoordinator(RequestContext& ctx, pb::RequestHeader& req,
                                            Response& resp) {
  auto* out = resp.header.mutable_find_coordinator();
  // A single broker coordinates every group.
  out->mutable_error()->set_code(pb::NONE);
  FillSelfBroker(ctx, out->mutable_coordinator());
  co_return;
}

asio::awaitable<void> HandleJoinGroup(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::JoinGroupRequest& j = req.join_group();
  JoinGroupRequest in;
  in.group_id = j.group_id();
  in.member_id = j.member_id();
  in.client_id = !j.client_id().empty() ? j.client_id() : req.client_id();
  in.client_host = HostOf(ctx.peer());
  in.protocol_type = j.protocol_type();
  in.session_timeout_ms = ClampToInt32(j.session_timeout_ms());
  in.rebalance_timeout_ms = ClampToInt32(j.rebalance_timeout_ms());
  for (const auto& p : j.protocols()) in.protocols.push_back(GroupProtocol{p.name(), p.metadata()});
  ctx.ReleaseNext();  // a join may wait for the whole rebalance
  GroupCoordinator& gc = ctx.broker.groups;
  JoinGroupResult r = co_await group_calls::Join(gc, std::move(in));
  auto* out = resp.header.mutable_join_group();
  SetError(out->mutable_error(), r.error);
  out->set_generation_id(r.generation_id);
  out->set_protocol_name(r.protocol_name);
  out->set_leader_id(r.leader_id);
  out->set_member_id(r.member_id);
  for (auto& m : r.members) {
    auto* pm = out->add_members();
    pm->set_member_id(std::move(m.member_id));
    pm->set_metadata(std::move(m.metadata));
  }
}

asio::awaitable<void> HandleSyncGroup(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::SyncGroupRequest& s = req.sync_group();
  SyncGroupRequest in;
  in.group_id = s.group_id();
  in.generation_id = s.generation_id();
  in.member_id = s.member_id();
  for (const auto& a : s.assignments()) in.assignments.emplace_back(a.member_id(), a.assignment());
  ctx.ReleaseNext();  // followers wait for the leader's assignment
  GroupCoordinator& gc = ctx.broker.groups;
  SyncGroupResult r = co_await group_calls::Sync(gc, std::move(in));
  auto* out = resp.header.mutable_sync_group();
  SetError(out->mutable_error(), r.error);
  out->set_assignment(std::move(r.assignment));
}

asio::awaitable<void> HandleHeartbeat(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::HeartbeatRequest& h = req.heartbeat();
  HeartbeatRequest in{h.group_id(), h.generation_id(), h.member_id()};
  ctx.ReleaseNext();
  GroupCoordinator& gc = ctx.broker.groups;
  GroupError e = co_await group_calls::Heartbeat(gc, std::move(in));
  SetError(resp.header.mutable_heartbeat()->mutable_error(), e);
}

asio::awaitable<void> HandleLeaveGroup(RequestContext& ctx, pb::RequestHeader& req,
                                       Response& resp) {
  const pb::LeaveGroupRequest& l = req.leave_group();
  LeaveGroupRequest in{l.group_id(), l.member_id()};
  ctx.ReleaseNext();
  GroupCoordinator& gc = ctx.broker.groups;
  GroupError e = co_await group_calls::Leave(gc, std::move(in));
  SetError(resp.header.mutable_leave_group()->mutable_error(), e);
}

asio::awaitable<void> HandleOffsetCommit(RequestContext& ctx, pb::RequestHeader& req,
                                         Response& resp) {
  const pb::OffsetCommitRequest& c = req.offset_commit();
  OffsetCommitRequest in;
  in.group_id = c.group_id();
  in.generation_id = c.generation_id();
  in.member_id = c.member_id();
  for (const auto& p : c.partitions()) {
    in.offsets.push_back(TopicPartitionOffset{p.topic(), p.partition(), p.offset(), p.metadata()});
  }
  // Not released early: a fetch pipelined after a commit must see it.
  GroupCoordinator& gc = ctx.broker.groups;
  OffsetCommitResult r = co_await group_calls::Commit(gc, std::move(in));
  auto* out = resp.header.mutable_offset_commit();
  for (const auto& p : c.partitions()) {
    auto* pr = out->add_partitions();
    pr->set_topic(p.topic());
    pr->set_partition(p.partition());
    SetError(pr->mutable_error(), r.error);
  }
}

asio::awaitable<void> HandleOffsetFetch(RequestContext& ctx, pb::RequestHeader& req,
                                        Response& resp) {
  const pb::OffsetFetchRequest& f = req.offset_fetch();
  OffsetFetchRequest in;
  in.group_id = f.group_id();
  for (const auto& p : f.partitions()) in.partitions.emplace_back(p.topic(), p.partition());
  GroupCoordinator& gc = ctx.broker.groups;
  OffsetFetchResult r = co_await group_calls::FetchOffsets(gc, std::move(in));
  auto* out = resp.header.mutable_offset_fetch();
  SetError(out->mutable_error(), r.error);
  for (auto& o : r.offsets) {
    auto* p = out->add_partitions();
    p->set_topic(std::move(o.topic));
    p->set_partition(o.partition);
    p->set_offset(o.offset);
    p->set_metadata(std::move(o.metadata));
    p->mutable_error()->set_code(pb::NONE);
  }
}

asio::awaitable<void> HandleListGroups(RequestContext& ctx, pb::RequestHeader& req,
                                       Response& resp) {
  GroupCoordinator& gc = ctx.broker.groups;
  std::vector<GroupListing> groups = co_await group_calls::List(gc);
  auto* out = resp.header.mutable_list_groups();
  out->mutable_error()->set_code(pb::NONE);
  for (auto& g : groups) {
    auto* pg = out->add_groups();
    pg->set_group_id(std::move(g.group_id));
    pg->set_protocol_type(std::move(g.protocol_type));
    pg->set_state(std::move(g.state));
  }
}

asio::awaitable<void> HandleDescribeGroups(RequestContext& ctx, pb::RequestHeader& req,
                                           Response& resp) {
  std::vector<std::string> ids(req.describe_groups().group_ids().begin(),
                               req.describe_groups().group_ids().end());
  GroupCoordinator& gc = ctx.broker.groups;
  std::vector<GroupDescription> groups = co_await group_calls::Describe(gc, std::move(ids));
  auto* out = resp.header.mutable_describe_groups();
  for (auto& g : groups) {
    auto* pg = out->add_groups();
    pg->set_group_id(std::move(g.group_id));
    SetError(pg->mutable_error(), g.error);
    pg->set_state(std::move(g.state));
    pg->set_protocol_type(std::move(g.protocol_type));
    pg->set_protocol(std::move(g.protocol));
    pg->set_generation_id(g.generation_id);
    for (auto& m : g.members) {
      auto* pm = pg->add_members();
      pm->set_member_id(std::move(m.member_id));
      pm->set_client_id(std::move(m.client_id));
      pm->set_client_host(std::move(m.client_host));
      pm->set_metadata(std::move(m.metadata));
      pm->set_assignment(std::move(m.assignment));
    }
    for (auto& o : g.offsets) {
      auto* po = pg->add_offsets();
      po->set_topic(std::move(o.topic));
      po->set_partition(o.partition);
      po->set_committed_offset(o.committed_offset);
      po->set_high_watermark(o.high_watermark);
      po->set_lag(o.lag);
    }
  }
}

}  // namespace sluice::broker::native
