#pragma once
// The native request handler interface and the handler table.
//
// One function per API (handlers_*.cc). A handler reads its request from the decoded header and
// the raw payload, fills the matching `response` field of Response::header (and, for Fetch, the
// zero-copy payload) and returns. Handlers run as coroutines on their connection's executor; the
// connection answers in request order whatever order handlers finish in.
//
// Ordering contract: the connection starts request N+1 only after request N calls
// ctx.ReleaseNext() (or returns). Handlers call it once the part of their work that must happen
// in request order is done: Produce after its appends (before waiting for durability), Fetch after
// its first read (before long-polling), group calls once the coordinator has the request. So
// pipelined requests keep their order where it matters and only waiting overlaps.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "broker/net/connection.h"
#include "broker/services.h"
#include "proto/native.pb.h"
#include "storage/partition_log.h"

namespace sluice::broker::native {

namespace pb = ::sluice::native;

class Connection;

// What a handler produces. The connection sets version and request_id.
struct Response {
  pb::ResponseHeader header;
  // Raw payload sent after the header, in order (Fetch: whole batches straight from segments).
  std::vector<storage::FileSlice> payload;
  uint64_t payload_bytes = 0;
  // False for acks=0 produce: nothing is sent back.
  bool send = true;
};

// Per-request view of the connection (ReleaseNext, connection_closed, RegisterWaker, peer,
// local_endpoint: net::RequestScope) and the broker. Lives in the request's coroutine; valid
// until the handler returns. Used on the connection's executor only.
class RequestContext : public net::RequestScope {
 public:
  RequestContext(BrokerServices& broker, std::shared_ptr<Connection> conn,
                 std::span<uint8_t> payload);

  BrokerServices& broker;
  // The request's raw payload; the handler may modify it in place (Append patches baseOffset).
  std::span<uint8_t> payload;
};

using HandlerFn = asio::awaitable<void> (*)(RequestContext& ctx, pb::RequestHeader& request,
                                            Response& response);

struct HandlerInfo {
  pb::RequestHeader::RequestCase request;
  const char* name;  // metrics label
  HandlerFn fn;
};

// The handler for a request kind, or nullptr. Built from one table (handlers.cc), which also
// registers every API's metrics.
const HandlerInfo* FindHandler(pb::RequestHeader::RequestCase c);
std::span<const HandlerInfo> AllHandlers();
void RegisterApiMetrics(Metrics& m);
// This broker as clients should reach it (Metadata, FindCoordinator).
void FillSelfBroker(RequestContext& ctx, pb::Broker* b);

// One function per API.
asio::awaitable<void> HandleApiVersions(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleMetadata(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleCreateTopics(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleDeleteTopics(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleDescribeConfigs(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleProduce(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleFetch(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleListOffsets(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleFindCoordinator(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleJoinGroup(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleSyncGroup(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleHeartbeat(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleLeaveGroup(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleOffsetCommit(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleOffsetFetch(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleListGroups(RequestContext&, pb::RequestHeader&, Response&);
asio::awaitable<void> HandleDescribeGroups(RequestContext&, pb::RequestHeader&, Response&);

}  // namespace sluice::broker::native
