// The handler table (dispatch, metrics labels), ApiVersions and this broker's address.
#include <array>

#include "asio/ip/address.hpp"

#include "broker/native/handler.h"
#include "broker/version.h"
#include "proto/native_frame.h"

namespace sluice::broker::native {
namespace {

using RH = pb::RequestHeader;

// The one list of what the broker serves: dispatch and metrics are built from it.
constexpr HandlerInfo kHandlers[] = {
    {RH::kApiVersions, "api_versions", &HandleApiVersions},
    {RH::kMetadata, "metadata", &HandleMetadata},
    {RH::kCreateTopics, "create_topics", &HandleCreateTopics},
    {RH::kDeleteTopics, "delete_topics", &HandleDeleteTopics},
    {RH::kDescribeConfigs, "describe_configs", &HandleDescribeConfigs},
    {RH::kProduce, "produce", &HandleProduce},
    {RH::kFetch, "fetch", &HandleFetch},
    {RH::kListOffsets, "list_offsets", &HandleListOffsets},
    {RH::kFindCoordinator, "find_coordinator", &HandleFindCoordinator},
    {RH::kJoinGroup, "join_group", &HandleJoinGroup},
    {RH::kSyncGroup, "sync_group", &HandleSyncGroup},
    {RH::kHeartbeat, "heartbeat", &HandleHeartbeat},
    {RH::kLeaveGroup, "leave_group", &HandleLeaveGroup},
    {RH::kOffsetCommit, "offset_commit", &HandleOffsetCommit},
    {RH::kOffsetFetch, "offset_fetch", &HandleOffsetFetch},
    {RH::kListGroups, "list_groups", &HandleListGroups},
    {RH::kDescribeGroups, "describe_groups", &HandleDescribeGroups},
};

// Indexed by the request's oneof field number.
constexpr auto kByCase = [] {
  std::array<const HandlerInfo*, Metrics::kMaxApis> t{};
  for (const HandlerInfo& h : kHandlers) t[static_cast<size_t>(h.request)] = &h;
  return t;
}();

}  // namespace

const HandlerInfo* FindHandler(pb::RequestHeader::RequestCase c) {
  auto i = static_cast<size_t>(c);
  return i < kByCase.size() ? kByCase[i] : nullptr;
}

std::span<const HandlerInfo> AllHandlers() { return kHandlers; }

void RegisterApiMetrics(Metrics& m) {
  for (const HandlerInfo& h : kHandlers) m.RegisterApi(static_cast<int>(h.request), h.name);
}

asio::awaitable<void> HandleApiVersions(RequestContext& ctx, pb::RequestHeader& req,
                                        Response& resp) {
  auto* r = resp.header.mutable_api_versions();
  r->set_min_version(sluice::native::kMinProtocolVersion);
  r->set_max_version(sluice::native::kProtocolVersion);
  r->set_broker_version(kBrokerVersion);
  co_return;
}

void FillSelfBroker(RequestContext& ctx, pb::Broker* b) {
  const BrokerConfig& c = ctx.broker.config;
  b->set_node_id(c.node_id);
  asio::error_code ec;
  auto addr = asio::ip::make_address(c.native_addr.host, ec);
  // Listening on a wildcard address: advertise the address this client reached us on.
  b->set_host(!ec && addr.is_unspecified() ? ctx.local_endpoint().address().to_string()
                                           : c.native_addr.host);
  b->set_port(ctx.broker.native_port);
}

}  // namespace sluice::broker::native
