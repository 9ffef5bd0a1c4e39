#include "broker/kafka/connection.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "broker/kafka/errors.h"
#include "spdlog/spdlog.h"
#include "storage/byte_order.h"

namespace sluice::broker::kafka {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

}  // namespace

// ---------------------------------------------------------------- Connection

Connection::Connection(tcp::socket socket, BrokerServices& broker, net::ConnectionTracker& tracker)
    : FramedConnection("kafka", std::move(socket), broker, tracker) {}

asio::awaitable<void> Connection::ReadFrames() {
  const BrokerConfig& cfg = broker_.config;
  while (!closing()) {
    co_await WaitForCapacity();
    if (closing()) break;

    asio::error_code ec = co_await Fill(4);
    if (ec) {
      ReadFailed(ec, buffered_size() == 0 ? "" : "size field");
      break;
    }
    const int32_t size = storage::LoadBigEndian<int32_t>(buffered());
    if (size <= 0) {
      Reject(absl::StrCat("request size ", size, " is not positive"));
      break;
    }
    if (static_cast<uint32_t>(size) > cfg.max_frame_bytes) {
      Reject(absl::StrCat("request size ", size, " exceeds the limit ", cfg.max_frame_bytes,
                          " (--max-frame-bytes)"));
      break;
    }
    Consume(4);
    const auto frame_size = static_cast<uint32_t>(size);
    auto frame = std::make_unique_for_overwrite<uint8_t[]>(frame_size);
    ec = co_await ReadExactly(std::span<uint8_t>(frame.get(), frame_size));
    if (ec) {
      ReadFailed(ec, absl::StrCat("body of a ", frame_size, "-byte request"));
      break;
    }
    const auto arrived = Clock::now();

    absl::StatusOr<ParsedRequestHeader> parsed =
        ParseRequestHeader(std::span<uint8_t>(frame.get(), frame_size));
    if (!parsed.ok()) {
      Reject(std::string(parsed.status().message()));
      break;
    }
    Header h = std::move(parsed->header);
    const ApiHandler* api = parsed->api;
    const uint32_t header_size = parsed->header_size;
    if (closing()) break;  // draining: no new requests start

    std::shared_ptr<Slot> slot = Enqueue(uint64_t{frame_size} + 4);
    // Spawned as an awaitable whose parameters own everything it needs (see broker/README.md,
    // "GCC 12 coroutine pitfalls", for why not a capturing lambda).
    asio::co_spawn(
        executor(),
        RunRequest(std::static_pointer_cast<Connection>(shared_from_this()), std::move(slot),
                   std::move(frame), frame_size, header_size, std::move(h), api, arrived),
        [what = absl::StrCat("kafka ", peer())](std::exception_ptr e) { LogException(what, e); });
  }
}

asio::awaitable<void> Connection::RunRequest(std::shared_ptr<Connection> self,
                                             std::shared_ptr<Slot> slot,
                                             std::unique_ptr<uint8_t[]> frame, uint32_t frame_size,
                                             uint32_t header_size, Header header,
                                             const ApiHandler* api, Clock::time_point arrived) {
  RequestContext ctx(broker_, std::move(self));
  ctx.api_key = header.api_key;
  ctx.api_version = header.api_version;
  ctx.correlation_id = header.correlation_id;
  ctx.client_id = header.client_id.value_or("");
  Response resp;
  absl::Status status;
  if (!api->supports(header.api_version)) {
    // ApiVersions above our range (the reader lets no other API through): as Kafka (KIP-511),
    // a v0 body with UNSUPPORTED_VERSION listing our ApiVersions versions.
    WriteApiVersionsBody(resp.body, 0, Code(ErrorCode::kUnsupportedVersion), std::span(api, 1));
  } else {
    Reader body(std::span<uint8_t>(frame.get() + header_size, frame_size - header_size));
    // No exceptions on the request path; one that escapes anyway is a bug, logged as such, and
    // the connection closes since there is no generic way to answer it.
    bool threw = false;
    std::string what;
    try {
      status = co_await api->fn(ctx, body, resp);
    } catch (const std::exception& e) {
      threw = true;
      what = e.what();
    }
    if (threw) {
      spdlog::error("kafka {}: {} handler failed: {}", peer(), api->name, what);
      status = absl::InternalError(absl::StrCat("the handler failed: ", what));
    }
  }
  ctx.ReleaseNext();

  ApiMetrics& m = broker_.metrics.kafka_api(api->key);
  m.requests.Add(1);
  m.latency.ObserveMicros(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - arrived).count());
  bool framed = false;
  if (status.ok()) framed = Frame(header, *api, resp, slot->out);
  if (!framed) {
    m.errors.Add(1);
    slot->out = net::Outgoing();
    slot->out.send = false;
    if (!status.ok()) {
      Reject(absl::StrCat("malformed ", api->name, " v", header.api_version,
                          " request (correlation id ", header.correlation_id,
                          "): ", status.message()));
    }
  }
  Complete(*slot);
}

bool Connection::Frame(const Header& header, const ApiHandler& api, Response& resp,
                       net::Outgoing& out) {
  out.send = resp.send;
  if (!resp.send) return true;
  // Response header v1 (with tags) for flexible requests, except ApiVersions: its header stays
  // v0 so that a client that does not know our versions yet can read it.
  const bool header_tags = api.key != kApiVersionsKey && api.supports(header.api_version) &&
                           api.flexible(header.api_version);
  const uint64_t size = 4 + (header_tags ? 1 : 0) + resp.body.size();
  if (size > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    Reject(absl::StrCat(api.name, " response of ", size, " bytes does not fit a Kafka frame"));
    return false;
  }
  Writer head;
  head.Int32(static_cast<int32_t>(size));
  head.Int32(header.correlation_id);
  if (header_tags) head.UnsignedVarint(0);
  out.head.assign(head.bytes().begin(), head.bytes().end());
  out.splices.reserve(resp.body.splices().size());
  for (const Writer::Splice& s : resp.body.splices()) out.splices.push_back({s.at, s.slice});
  out.bytes = std::move(resp.body.mutable_bytes());
  return true;
}

}  // namespace sluice::broker::kafka
