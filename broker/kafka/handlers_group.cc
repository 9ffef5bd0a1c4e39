// Kafka consumer group membership: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup.
// Each converts the Kafka request to the protocol-neutral GroupCoordinator's (the object the
// native handlers use, so Kafka consumers and sluice consumers can be members of one group),
// awaits it and converts the result back. Offsets and group administration are in
// handlers_group_offsets.cc.
//
// Not supported, by design of the coordinator:
// - Static membership (group_instance_id, JoinGroup v5, SyncGroup/Heartbeat/LeaveGroup v3): the
//   instance id is ignored and the member is dynamic. A restarted static member therefore joins
//   as a new member and its old incarnation leaves after its session timeout, as with
//   dynamic membership; nothing is fenced (no FENCED_INSTANCE_ID).
// - Transaction coordinators (FindCoordinator key_type 1): there are no transactions.
#include <string>
#include <utility>
#include <vector>

#include "broker/group_calls.h"
#include "broker/kafka/errors.h"
#include "broker/kafka/handler.h"
#include "broker/kafka/handler_util.h"
#include "broker/kafka/kafka_messages.h"

namespace sluice::broker::kafka {
namespace {

// FindCoordinator key types.
constexpr int8_t kGroupKey = 0;
constexpr int8_t kTransactionKey = 1;

// "1.2.3.4:5678" -> "1.2.3.4", "[::1]:5678" -> "::1": the coordinator stores the client host
// without the port, as the native handlers give it, so DescribeGroups shows one format for
// members of either protocol.
std::string HostOf(const std::string& peer) {
  size_t colon = peer.rfind(':');
  std::string host = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

asio::awaitable<absl::Status> HandleFindCoordinator(RequestContext& ctx, Reader& body,
                                                    Response& resp) {
  msg::FindCoordinatorRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::FindCoordinatorResponse out;
  out.throttle_time_ms = 0;
  if (req.key_type == kGroupKey) {
    // A single broker coordinates every group.
    BrokerAddress self = SelfAddress(ctx);
    out.error_code = Code(ErrorCode::kNone);
    out.node_id = ctx.broker.config.node_id;
    out.host = std::move(self.host);
    out.port = self.port;
  } else {
    // No transactions: a transactional producer must fail rather than wait. Kafka clients retry
    // COORDINATOR_NOT_AVAILABLE until their own timeout (60 s for the Java producer's
    // initTransactions()), while INVALID_REQUEST, what Kafka answers for an unknown key type,
    // fails the call at once; v1+ carry the reason.
    out.error_code = Code(ErrorCode::kInvalidRequest);
    out.error_message = req.key_type == kTransactionKey
                            ? "transactions are not supported by this broker"
                            : "unknown coordinator key type";
    out.node_id = -1;
    out.host = "";
    out.port = -1;
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleJoinGroup(RequestContext& ctx, Reader& body, Response& resp) {
  msg::JoinGroupRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  JoinGroupRequest in;
  in.group_id = std::move(req.group_id);
  in.member_id = std::move(req.member_id);
  in.client_id = ctx.client_id;
  in.client_host = HostOf(ctx.peer());
  in.protocol_type = std::move(req.protocol_type);
  in.session_timeout_ms = req.session_timeout_ms;
  // v4+: a first join gets MEMBER_ID_REQUIRED and the id to join with, as from Kafka.
  in.require_known_member_id = ctx.api_version >= 4;
  // v0 has no rebalance timeout: Kafka uses the session timeout.
  in.rebalance_timeout_ms = ctx.api_version >= 1 ? req.rebalance_timeout_ms
                                                 : req.session_timeout_ms;
  for (auto& p : req.protocols) {
    in.protocols.push_back(GroupProtocol{std::move(p.name), std::move(p.metadata)});
  }
  ctx.ReleaseNext();  // a join may wait for the whole rebalance
  GroupCoordinator& gc = ctx.broker.groups;
  JoinGroupResult r = co_await group_calls::Join(gc, std::move(in));
  msg::JoinGroupResponse out;
  out.throttle_time_ms = 0;
  out.error_code = Code(ErrorFor(r.error));
  out.generation_id = r.generation_id;
  out.protocol_name = std::move(r.protocol_name);
  out.leader = std::move(r.leader_id);
  out.member_id = std::move(r.member_id);
  for (auto& m : r.members) {
    msg::JoinGroupResponse::JoinGroupResponseMember om;
    om.member_id = std::move(m.member_id);
    om.metadata = std::move(m.metadata);
    out.members.push_back(std::move(om));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleSyncGroup(RequestContext& ctx, Reader& body, Response& resp) {
  msg::SyncGroupRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  SyncGroupRequest in;
  in.group_id = std::move(req.group_id);
  in.generation_id = req.generation_id;
  in.member_id = std::move(req.member_id);
  for (auto& a : req.assignments) {
    in.assignments.emplace_back(std::move(a.member_id), std::move(a.assignment));
  }
  ctx.ReleaseNext();  // followers wait for the leader's assignment
  GroupCoordinator& gc = ctx.broker.groups;
  SyncGroupResult r = co_await group_calls::Sync(gc, std::move(in));
  msg::SyncGroupResponse out;
  out.throttle_time_ms = 0;
  out.error_code = Code(ErrorFor(r.error));
  out.assignment = std::move(r.assignment);
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleHeartbeat(RequestContext& ctx, Reader& body, Response& resp) {
  msg::HeartbeatRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  HeartbeatRequest in{std::move(req.group_id), req.generation_id, std::move(req.member_id)};
  ctx.ReleaseNext();
  GroupCoordinator& gc = ctx.broker.groups;
  GroupError e = co_await group_calls::Heartbeat(gc, std::move(in));
  msg::HeartbeatResponse out;
  out.throttle_time_ms = 0;
  out.error_code = Code(ErrorFor(e));
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

// v0-2 name one member; v3 a batch (Kafka's admin "remove members"), each answered on its own.
// Errors about the group itself (invalid id, coordinator unavailable) go to the top-level code
// with no member results, as Kafka does; UNKNOWN_MEMBER_ID is per member.
asio::awaitable<absl::Status> HandleLeaveGroup(RequestContext& ctx, Reader& body, Response& resp) {
  msg::LeaveGroupRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  if (ctx.api_version < 3) {
    msg::LeaveGroupRequest::MemberIdentity only;
    only.member_id = std::move(req.member_id);
    req.members = {std::move(only)};
  }
  ctx.ReleaseNext();
  GroupCoordinator& gc = ctx.broker.groups;
  msg::LeaveGroupResponse out;
  out.throttle_time_ms = 0;
  out.error_code = Code(ErrorCode::kNone);
  for (auto& m : req.members) {
    // A member named only by its group_instance_id is unknown here (no static membership).
    LeaveGroupRequest in{req.group_id, m.member_id};
    GroupError e = co_await group_calls::Leave(gc, std::move(in));
    if (e == GroupError::kInvalidGroupId || e == GroupError::kCoordinatorNotAvailable ||
        ctx.api_version < 3) {
      out.error_code = Code(ErrorFor(e));
      out.members.clear();
      break;
    }
    msg::LeaveGroupResponse::MemberResponse mr;
    mr.member_id = std::move(m.member_id);
    mr.group_instance_id = std::move(m.group_instance_id);
    mr.error_code = Code(ErrorFor(e));
    out.members.push_back(std::move(mr));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
