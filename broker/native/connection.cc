#include "broker/native/connection.h"

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "broker/native/errors.h"
#include "broker/native/frame.h"
#include "proto/native_frame.h"
#include "spdlog/spdlog.h"

namespace sluice::broker::native {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

}  // namespace

// ---------------------------------------------------------------- RequestContext

RequestContext::RequestContext(BrokerServices& broker, std::shared_ptr<Connection> conn,
                               std::span<uint8_t> payload)
    : RequestScope(std::move(conn)), broker(broker), payload(payload) {}

// ---------------------------------------------------------------- Connection

Connection::Connection(tcp::socket socket, BrokerServices& broker, net::ConnectionTracker& tracker)
    : FramedConnection("native", std::move(socket), broker, tracker) {}

asio::awaitable<void> Connection::ReadFrames() {
  const BrokerConfig& cfg = broker_.config;
  while (!closing()) {
    co_await WaitForCapacity();
    if (closing()) break;

    asio::error_code ec = co_await Fill(4);
    if (ec) {
      ReadFailed(ec, buffered_size() == 0 ? "" : "length field");
      break;
    }
    const uint32_t length = sluice::native::GetFrameU32(buffered());
    if (auto why = sluice::native::CheckFrameLength(length, cfg.max_frame_bytes)) {
      Malformed(*why);
      break;
    }
    ec = co_await Fill(8);
    if (ec) {
      ReadFailed(ec, "header length field");
      break;
    }
    const uint32_t header_length = sluice::native::GetFrameU32(buffered() + 4);
    if (auto why = sluice::native::CheckHeaderLength(header_length, length)) {
      Malformed(*why);
      break;
    }
    Consume(sluice::native::kFramePrefixSize);
    const uint32_t body_length = length - 4;  // header + payload
    auto body = std::make_unique_for_overwrite<uint8_t[]>(body_length);
    ec = co_await ReadExactly(std::span<uint8_t>(body.get(), body_length));
    if (ec) {
      ReadFailed(ec, absl::StrCat("body of a ", length, "-byte frame"));
      break;
    }
    const auto arrived = Clock::now();

    auto header = std::make_unique<pb::RequestHeader>();
    if (auto why = ParseRequestFrame(std::span<const uint8_t>(body.get(), body_length),
                                     header_length, header.get())) {
      Malformed(*why);
      break;
    }
    // Null for an unsupported version: RunRequest answers UNSUPPORTED_VERSION.
    const HandlerInfo* handler =
        SupportedVersion(*header) ? FindHandler(header->request_case()) : nullptr;
    if (closing()) break;  // draining: no new requests start

    std::shared_ptr<Slot> slot = Enqueue(uint64_t{length} + 4);
    // Spawned as an awaitable whose parameters own everything it needs (see broker/README.md,
    // "GCC 12 coroutine pitfalls", for why not a capturing lambda).
    asio::co_spawn(
        executor(),
        RunRequest(std::static_pointer_cast<Connection>(shared_from_this()), std::move(slot),
                   std::move(body), header_length, body_length, std::move(header), handler,
                   arrived),
        [what = absl::StrCat("native ", peer())](std::exception_ptr e) { LogException(what, e); });
  }
}

asio::awaitable<void> Connection::RunRequest(
    std::shared_ptr<Connection> self, std::shared_ptr<Slot> slot, std::unique_ptr<uint8_t[]> body,
    uint32_t header_length, uint32_t body_length, std::unique_ptr<pb::RequestHeader> header,
    const HandlerInfo* handler, Clock::time_point arrived) {
  Response resp;
  RequestContext ctx(broker_, std::move(self),
                     std::span<uint8_t>(body.get() + header_length, body_length - header_length));
  if (!handler) {
    if (header->version() < sluice::native::kMinProtocolVersion ||
        header->version() > sluice::native::kProtocolVersion) {
      SetError(resp.header.mutable_error(), pb::UNSUPPORTED_VERSION,
               absl::StrCat("this broker speaks native protocol versions ",
                            sluice::native::kMinProtocolVersion, " to ",
                            sluice::native::kProtocolVersion, "; the request has version ",
                            header->version()));
    } else {
      SetError(resp.header.mutable_error(), pb::INVALID_REQUEST,
               absl::StrCat("no handler for request kind ", header->request_case()));
    }
  } else {
    bool failed = false;
    std::string what;
    try {
      co_await handler->fn(ctx, *header, resp);
    } catch (const std::exception& e) {
      failed = true;
      what = e.what();
    }
    if (failed) {
      spdlog::error("native {}: {} handler failed: {}", peer(), handler->name, what);
      resp = Response{};
      SetError(resp.header.mutable_error(), pb::UNKNOWN_SERVER_ERROR, what);
    }
    ApiMetrics& m = broker_.metrics.api(static_cast<int>(handler->request));
    m.requests.Add(1);
    if (resp.header.error().code() != pb::NONE) m.errors.Add(1);
    m.latency.ObserveMicros(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - arrived).count());
  }
  ctx.ReleaseNext();
  resp.header.set_version(sluice::native::kProtocolVersion);
  resp.header.set_request_id(header->request_id());
  net::Outgoing& out = slot->out;
  out.send = resp.send;
  if (resp.send) {
    out.head = EncodeResponseHead(resp.header, resp.payload_bytes);
    // The raw payload follows the head: every slice goes at the end of the (empty) bytes.
    out.splices.reserve(resp.payload.size());
    for (storage::FileSlice& s : resp.payload) out.splices.push_back({0, std::move(s)});
  }
  Complete(*slot);
}

}  // namespace sluice::broker::native
