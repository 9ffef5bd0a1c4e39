// Kafka committed offsets and group administration: OffsetCommit, OffsetFetch, ListGroups,
// DescribeGroups, DeleteGroups, all served by the GroupCoordinator the native handlers use.
//
// Ignored request fields, and why:
// - OffsetCommit retention_time_ms (v2-4): offsets are kept until their group is deleted.
// - OffsetCommit commit_timestamp (v1): the coordinator stamps commits itself.
// - OffsetCommit committed_leader_epoch (v6+): one node, no leader epochs (OffsetFetch v5+
//   answers -1, "unknown").
// - OffsetFetch require_stable (v7): without transactions no offset is ever pending.
// - DescribeGroups include_authorized_operations (v3+): there are no ACLs; authorized_operations
//   stays Kafka's "not provided" value, INT32_MIN.
#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "broker/group_calls.h"
#include "broker/kafka/errors.h"
#include "broker/kafka/handler.h"
#include "broker/kafka/kafka_messages.h"

namespace sluice::broker::kafka {
namespace {

// Kafka's offset.metadata.max.bytes default: longer commit metadata is refused per partition.
constexpr size_t kMaxOffsetMetadataBytes = 4096;
// Kafka's "authorized operations not provided" (DescribeGroups v3+).
constexpr int32_t kAuthorizedOperationsOmitted = std::numeric_limits<int32_t>::min();

using DeleteResults = std::vector<std::pair<std::string, GroupError>>;

// group_calls has no DeleteGroups wrapper; same shape, and not a coroutine for the same reason
// (no lambda inside a co_await expression on GCC 12).
asio::awaitable<DeleteResults> DeleteGroups(GroupCoordinator& gc, std::vector<std::string> ids) {
  return group_calls::Call<DeleteResults>([&gc, ids = std::move(ids)](auto done) mutable {
    gc.DeleteGroups(std::move(ids), std::move(done));
  });
}

// Whether the partition exists; UNKNOWN_TOPIC_OR_PARTITION (what Kafka answers for a commit to a
// partition it does not host) or the storage error otherwise.
ErrorCode PartitionError(RequestContext& ctx, const std::string& topic, int32_t partition) {
  auto log = ctx.broker.logs.GetPartition(topic, PartitionId(partition));
  return log.ok() ? ErrorCode::kNone : ErrorFor(log.status());
}

}  // namespace

// Partitions that do not exist or carry too much metadata get their own error and are not
// committed; the rest are committed in one coordinator call whose error (generation fencing,
// unknown member, rebalance) applies to each of them, as in Kafka. Not released early: an
// OffsetFetch pipelined after a commit must see it.
asio::awaitable<absl::Status> HandleOffsetCommit(RequestContext& ctx, Reader& body,
                                                 Response& resp) {
  msg::OffsetCommitRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  OffsetCommitRequest in;
  in.group_id = std::move(req.group_id);
  if (ctx.api_version >= 1) {
    in.generation_id = req.generation_id_or_member_epoch;
    in.member_id = std::move(req.member_id);
  }  // v0 commits outside any generation (the defaults: -1, "")

  msg::OffsetCommitResponse out;
  out.throttle_time_ms = 0;
  // Response slots still waiting for the coordinator's verdict.
  std::vector<int16_t*> pending;
  for (auto& t : req.topics) {
    msg::OffsetCommitResponse::OffsetCommitResponseTopic rt;
    rt.name = t.name;
    rt.partitions.resize(t.partitions.size());
    out.topics.push_back(std::move(rt));
  }
  for (size_t i = 0; i < req.topics.size(); ++i) {
    auto& t = req.topics[i];
    auto& rt = out.topics[i];
    for (size_t j = 0; j < t.partitions.size(); ++j) {
      auto& p = t.partitions[j];
      auto& rp = rt.partitions[j];
      rp.partition_index = p.partition_index;
      std::string metadata = p.committed_metadata.value_or("");
      ErrorCode e = PartitionError(ctx, t.name, p.partition_index);
      if (e == ErrorCode::kNone && metadata.size() > kMaxOffsetMetadataBytes) {
        e = ErrorCode::kOffsetMetadataTooLarge;
      }
      rp.error_code = Code(e);
      if (e != ErrorCode::kNone) continue;
      in.offsets.push_back(
          TopicPartitionOffset{t.name, p.partition_index, p.committed_offset, std::move(metadata)});
      pending.push_back(&rp.error_code);
    }
  }
  // Kafka answers without consulting the group when nothing is left to commit.
  if (!pending.empty()) {
    GroupCoordinator& gc = ctx.broker.groups;
    OffsetCommitResult r = co_await group_calls::Commit(gc, std::move(in));
    for (int16_t* slot : pending) *slot = Code(ErrorFor(r.error));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

// Topics null (v2+) asks for every committed offset of the group. A partition with nothing
// committed answers offset -1 and metadata "" without error, as Kafka does. A group-level error
// is the top-level error_code from v2; v0-1 have none, so each requested partition carries it.
asio::awaitable<absl::Status> HandleOffsetFetch(RequestContext& ctx, Reader& body,
                                                Response& resp) {
  msg::OffsetFetchRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  using ResponseTopic = msg::OffsetFetchResponse::OffsetFetchResponseTopic;
  using ResponsePartition = ResponseTopic::OffsetFetchResponsePartition;
  msg::OffsetFetchResponse out;
  out.throttle_time_ms = 0;
  out.error_code = Code(ErrorCode::kNone);

  OffsetFetchRequest in;
  in.group_id = std::move(req.group_id);
  const bool all = !req.topics.has_value();
  if (!all) {
    for (const auto& t : *req.topics) {
      for (int32_t p : t.partition_indexes) in.partitions.emplace_back(t.name, p);
    }
    // The coordinator reads an empty list as "all"; Kafka answers an empty one with nothing.
    if (in.partitions.empty()) {
      out.Encode(resp.body, ctx.api_version);
      co_return absl::OkStatus();
    }
  }
  GroupCoordinator& gc = ctx.broker.groups;
  OffsetFetchResult r = co_await group_calls::FetchOffsets(gc, std::move(in));

  const ErrorCode group_error = ErrorFor(r.error);
  if (group_error != ErrorCode::kNone) {
    if (ctx.api_version >= 2) {
      out.error_code = Code(group_error);
    } else if (!all) {
      for (const auto& t : *req.topics) {
        ResponseTopic rt;
        rt.name = t.name;
        for (int32_t p : t.partition_indexes) {
          ResponsePartition rp;
          rp.partition_index = p;
          rp.committed_offset = -1;
          rp.committed_leader_epoch = -1;
          rp.metadata = "";
          rp.error_code = Code(group_error);
          rt.partitions.push_back(std::move(rp));
        }
        out.topics.push_back(std::move(rt));
      }
    }
    out.Encode(resp.body, ctx.api_version);
    co_return absl::OkStatus();
  }
  // The coordinator answers in request order (or, for "all", sorted by topic): consecutive
  // entries of one topic form one response topic.
  for (auto& o : r.offsets) {
    if (out.topics.empty() || out.topics.back().name != o.topic) {
      ResponseTopic rt;
      rt.name = o.topic;
      out.topics.push_back(std::move(rt));
    }
    ResponsePartition rp;
    rp.partition_index = o.partition;
    rp.committed_offset = o.offset;
    rp.committed_leader_epoch = -1;
    rp.metadata = std::move(o.metadata);
    rp.error_code = Code(ErrorCode::kNone);
    out.topics.back().partitions.push_back(std::move(rp));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

// v4 states_filter: only groups in one of the listed states (Kafka's state names, compared
// without case); empty lists every group.
asio::awaitable<absl::Status> HandleListGroups(RequestContext& ctx, Reader& body, Response& resp) {
  msg::ListGroupsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  GroupCoordinator& gc = ctx.broker.groups;
  std::vector<GroupListing> groups = co_await group_calls::List(gc);
  msg::ListGroupsResponse out;
  out.throttle_time_ms = 0;
  out.error_code = Code(ErrorCode::kNone);
  for (auto& g : groups) {
    if (!req.states_filter.empty() &&
        std::none_of(req.states_filter.begin(), req.states_filter.end(),
                     [&g](const std::string& s) { return absl::EqualsIgnoreCase(s, g.state); })) {
      continue;
    }
    msg::ListGroupsResponse::ListedGroup lg;
    lg.group_id = std::move(g.group_id);
    lg.protocol_type = std::move(g.protocol_type);
    lg.group_state = std::move(g.state);
    out.groups.push_back(std::move(lg));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

// An unknown group is described as "Dead" without an error (Kafka before DescribeGroups v6).
// As in Kafka, the protocol and each member's metadata and assignment are only reported for a
// Stable group; in other states they are in flux and left empty.
asio::awaitable<absl::Status> HandleDescribeGroups(RequestContext& ctx, Reader& body,
                                                   Response& resp) {
  msg::DescribeGroupsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  GroupCoordinator& gc = ctx.broker.groups;
  std::vector<GroupDescription> groups = co_await group_calls::Describe(gc, std::move(req.groups));
  using Described = msg::DescribeGroupsResponse::DescribedGroup;
  msg::DescribeGroupsResponse out;
  out.throttle_time_ms = 0;
  for (auto& g : groups) {
    const bool stable = g.state == "Stable";
    Described d;
    d.error_code = Code(ErrorFor(g.error));
    d.group_id = std::move(g.group_id);
    d.group_state = std::move(g.state);
    d.protocol_type = std::move(g.protocol_type);
    d.protocol_data = stable ? std::move(g.protocol) : std::string();
    for (auto& m : g.members) {
      Described::DescribedGroupMember dm;
      dm.member_id = std::move(m.member_id);
      dm.client_id = std::move(m.client_id);
      dm.client_host = std::move(m.client_host);
      if (stable) {
        dm.member_metadata = std::move(m.metadata);
        dm.member_assignment = std::move(m.assignment);
      }
      d.members.push_back(std::move(dm));
    }
    d.authorized_operations = kAuthorizedOperationsOmitted;
    out.groups.push_back(std::move(d));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

// Only empty groups can be deleted (NON_EMPTY_GROUP otherwise); their committed offsets go too.
asio::awaitable<absl::Status> HandleDeleteGroups(RequestContext& ctx, Reader& body,
                                                 Response& resp) {
  msg::DeleteGroupsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  GroupCoordinator& gc = ctx.broker.groups;
  DeleteResults results = co_await DeleteGroups(gc, std::move(req.groups_names));
  msg::DeleteGroupsResponse out;
  out.throttle_time_ms = 0;
  for (auto& [id, e] : results) {
    msg::DeleteGroupsResponse::DeletableGroupResult dr;
    dr.group_id = std::move(id);
    dr.error_code = Code(ErrorFor(e));
    out.results.push_back(std::move(dr));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
