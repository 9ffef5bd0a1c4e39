#pragma once
// The Kafka request handler interface and the registry of handled APIs.
//
// One function per API key (handlers_*.cc). The connection has already read the request header
// (see connection.h); a handler decodes the body with the generated message struct at
// ctx.api_version, does the work and encodes its response body into resp.body. The connection
// writes the response header (correlation id, and the tagged section at flexible versions).
// Handlers run as coroutines on their connection's executor; the connection answers in request
// order whatever order handlers finish in.
//
// Ordering contract: the connection starts request N+1 only after request N calls
// ctx.ReleaseNext() (or returns). Handlers call it once the part of their work that must happen
// in request order is done: Produce after its appends (before waiting for durability), Fetch after
// its first read (before long-polling), group calls once the coordinator has the request. So
// pipelined requests keep their order where it matters and only waiting overlaps.
//
// Errors: a handler answers every error Kafka answers with an error code in its response. It
// returns a non-OK status only for a request it cannot parse (Kafka closes the connection then):
// the connection logs the reason at warn with the peer and closes, sending nothing more.
//
// The registry (handlers.cc) is the single list of what the broker serves: dispatch, the request
// header version, metrics and the ApiVersions response are all built from it, so what is
// advertised cannot drift from what is implemented.
//
// Example (a handler; add its declaration below and one row to kHandlers in handlers.cc):
//   asio::awaitable<absl::Status> HandleHeartbeat(RequestContext& ctx, Reader& body,
//                                                 Response& resp) {
//     msg::HeartbeatRequest req;
//     if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
//     msg::HeartbeatResponse out;
//     ...
//     out.Encode(resp.body, ctx.api_version);
//     co_return absl::OkStatus();
//   }

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "broker/kafka/wire.h"
#include "broker/notifier.h"
#include "broker/net/connection.h"
#include "broker/services.h"

namespace sluice::broker::kafka {

// What a handler produces: the response body (the connection adds the header).
struct Response {
  Writer body;
  // False: nothing is sent back (Produce with acks=0).
  bool send = true;
};

// Per-request view of the connection (ReleaseNext, connection_closed, RegisterWaker, peer,
// local_endpoint: net::RequestScope) and the broker. Lives in the request's coroutine; valid
// until the handler returns. Used on the connection's executor only.
class RequestContext : public net::RequestScope {
 public:
  RequestContext(BrokerServices& broker, std::shared_ptr<net::FramedConnection> conn)
      : RequestScope(std::move(conn)), broker(broker) {}

  BrokerServices& broker;
  // From the request header.
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::string client_id;  // a null client id reads as ""

};

// `body` reads the request body (after the header; the handler may modify the bytes it views
// in place, as Produce patches baseOffset). A non-OK status means: malformed, close the connection.
using HandlerFn = asio::awaitable<absl::Status> (*)(RequestContext& ctx, Reader& body,
                                                    Response& resp);
// Decodes a request body at `version` exactly as the API's handler does first, discarding the
// result; false (with the reason in `body`) where the handler would return its non-OK status.
// The decode path without a connection: the fuzz target and tests (request_decoder.h).
using DecodeFn = bool (*)(Reader& body, int16_t version);

struct ApiHandler {
  int16_t key;
  const char* name;  // metrics label, log lines
  int16_t min_version;
  int16_t max_version;
  // Versions from here on are flexible (compact encodings, tagged fields, request header v2).
  int16_t first_flexible_version;
  HandlerFn fn;
  DecodeFn decode;

  bool supports(int16_t version) const { return version >= min_version && version <= max_version; }
  bool flexible(int16_t version) const { return version >= first_flexible_version; }
};

// A registry row from a generated request struct's constants (kApiKey, kMinVersion, kMaxVersion,
// kFirstFlexibleVersion):  Api<msg::HeartbeatRequest>("heartbeat", &HandleHeartbeat).
template <typename Request>
constexpr ApiHandler Api(const char* name, HandlerFn fn) {
  return ApiHandler{.key = Request::kApiKey,
                    .name = name,
                    .min_version = Request::kMinVersion,
                    .max_version = Request::kMaxVersion,
                    .first_flexible_version = Request::kFirstFlexibleVersion,
                    .fn = fn,
                    .decode = [](Reader& body, int16_t version) {
                      Request req;
                      return req.Decode(body, version);
                    }};
}

// Every handled API, in API key order; the handler of `key`, or nullptr.
std::span<const ApiHandler> AllHandlers();
const ApiHandler* FindHandler(int16_t key);
// Registers every handled API's metrics (Metrics::RegisterKafkaApi); once, before serving.
void RegisterApiMetrics(Metrics& m);

// Reads past a tagged-field section (unsigned varint count, then tag, size, bytes each); fields
// are skipped, failures stick to `r`. For the hand-written header and ApiVersions.
void SkipTaggedFields(Reader& r);

// ApiVersions (key 18), the one API the connection also answers itself (at an unsupported
// version, see connection.h).
inline constexpr int16_t kApiVersionsKey = 18;
// Reads an ApiVersions request body at `version` (v3+: client software name and version, tags);
// false if it does not parse (the reason is in `body`).
bool DecodeApiVersionsRequest(Reader& body, int16_t version, std::string* software_name,
                              std::string* software_version);
// Writes the body of an ApiVersions response at `version` listing every registered API.
void WriteApiVersionsBody(Writer& w, int16_t version, int16_t error_code,
                          std::span<const ApiHandler> apis);

// One function per API.
asio::awaitable<absl::Status> HandleApiVersions(RequestContext&, Reader&, Response&);
// Data (handlers_produce.cc, handlers_fetch.cc).
asio::awaitable<absl::Status> HandleProduce(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleFetch(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleListOffsets(RequestContext&, Reader&, Response&);
// Topics and admin (handlers_topics.cc, handlers_admin.cc).
asio::awaitable<absl::Status> HandleMetadata(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleCreateTopics(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleDeleteTopics(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleCreatePartitions(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleDescribeConfigs(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleDeleteRecords(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleOffsetForLeaderEpoch(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleInitProducerId(RequestContext&, Reader&, Response&);
// Consumer groups (handlers_group.cc, handlers_group_offsets.cc).
asio::awaitable<absl::Status> HandleOffsetCommit(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleOffsetFetch(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleFindCoordinator(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleJoinGroup(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleHeartbeat(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleLeaveGroup(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleSyncGroup(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleDescribeGroups(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleListGroups(RequestContext&, Reader&, Response&);
asio::awaitable<absl::Status> HandleDeleteGroups(RequestContext&, Reader&, Response&);

}  // namespace sluice::broker::kafka
