#include "broker/native/connection.h"

#include <sys/socket.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "asio/bind_cancellation_slot.hpp"
#include "asio/co_spawn.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/read.hpp"
#include "asio/use_awaitable.hpp"
#include "asio/write.hpp"
#include "broker/native/errors.h"
#include "broker/native/frame.h"
#include "broker/native/listener.h"
#include "broker/native/sendfile.h"
#include "proto/native_frame.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"

namespace sluice::broker::native {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
// Ready responses are coalesced into one write up to this many bytes.
constexpr size_t kMaxCoalescedBytes = 256 * 1024;

std::string EndpointString(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return absl::StrCat("[", ep.address().to_string(), "]:", ep.port());
  return absl::StrCat(ep.address().to_string(), ":", ep.port());
}

void LogException(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::error("native {}: unhandled exception: {}", what, x.what());
  }
}

}  // namespace

// ---------------------------------------------------------------- RequestContext

void RequestContext::ReleaseNext() {
  if (released_) return;
  released_ = true;
  conn_->ReleaseGate();
}
bool RequestContext::connection_closed() const { return conn_->closed_; }
void RequestContext::RegisterWaker(const std::shared_ptr<Waker>& w) {
  if (conn_->closed_) {
    w->WakeLocal();
    return;
  }
  std::erase_if(conn_->wakers_, [](const std::weak_ptr<Waker>& x) { return x.expired(); });
  conn_->wakers_.push_back(w);
}
const std::string& RequestContext::peer() const { return conn_->peer(); }
asio::ip::tcp::endpoint RequestContext::local_endpoint() const { return conn_->local_endpoint(); }

// ---------------------------------------------------------------- Connection

Connection::Connection(tcp::socket socket, BrokerServices& broker, ConnectionTracker& tracker)
    : socket_(std::move(socket)),
      broker_(broker),
      tracker_(tracker),
      rbuf_(kReadBufferBytes),
      reader_wake_(socket_.get_executor(), Clock::time_point::max()),
      writer_wake_(socket_.get_executor(), Clock::time_point::max()),
      idle_timer_(socket_.get_executor()) {
  asio::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  peer_ = ec ? "unknown peer" : EndpointString(remote);
  local_ = socket_.local_endpoint(ec);
  socket_.set_option(tcp::no_delay(true), ec);
  // sendfile(2) on the raw descriptor must not block the io thread.
  socket_.native_non_blocking(true, ec);
  broker_.metrics.connections.Add(1);
  Touch();
}

Connection::~Connection() {
  tracker_.Remove(this);
  broker_.metrics.connections.Add(-1);
}

void Connection::Start() {
  spdlog::debug("native {}: connected", peer_);
  auto self = shared_from_this();
  auto on_done = [peer = peer_](std::exception_ptr e) { LogException(peer, e); };
  asio::co_spawn(executor(), ReadLoop(self), on_done);
  asio::co_spawn(executor(), WriteLoop(self), on_done);
  asio::co_spawn(executor(), IdleLoop(self), on_done);
}

void Connection::Drain() {
  if (closed_ || draining_) return;
  draining_ = true;
  read_cancel_.emit(asio::cancellation_type::terminal);
  reader_wake_.cancel();
  writer_wake_.cancel();
}

void Connection::Close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  spdlog::debug("native {}: closed ({})", peer_, reason);
  asio::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  reader_wake_.cancel();
  writer_wake_.cancel();
  idle_timer_.cancel();
  for (auto& w : wakers_) {
    if (auto p = w.lock()) p->WakeLocal();
  }
  wakers_.clear();
}

void Connection::Malformed(const std::string& reason) {
  spdlog::warn("native {}: closing connection: malformed frame: {}", peer_, reason);
  broker_.metrics.malformed_frames.Add(1);
  Close("malformed frame");
}

void Connection::ReleaseGate() {
  gate_open_ = true;
  reader_wake_.cancel();
}

asio::awaitable<asio::error_code> Connection::Fill(size_t n) {
  if (rend_ - rpos_ >= n) co_return asio::error_code();
  if (rpos_ == rend_) {
    rpos_ = rend_ = 0;
  } else if (rpos_ + n > rbuf_.size()) {
    std::memmove(rbuf_.data(), rbuf_.data() + rpos_, rend_ - rpos_);
    rend_ -= rpos_;
    rpos_ = 0;
  }
  while (rend_ - rpos_ < n) {
    auto [ec, got] = co_await socket_.async_read_some(
        asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
        asio::bind_cancellation_slot(read_cancel_.slot(), kNoThrow));
    if (got > 0) {
      rend_ += got;
      broker_.metrics.bytes_in.Add(got);
      Touch();
    }
    if (ec) co_return ec;
  }
  co_return asio::error_code();
}

asio::awaitable<asio::error_code> Connection::ReadExactly(std::span<uint8_t> dst) {
  size_t have = std::min(rend_ - rpos_, dst.size());
  std::memcpy(dst.data(), rbuf_.data() + rpos_, have);
  rpos_ += have;
  size_t left = dst.size() - have;
  if (left == 0) co_return asio::error_code();
  if (left <= kReadBufferBytes / 2) {
    // Small remainder: read through the buffer, which also picks up the frames that follow.
    asio::error_code ec = co_await Fill(left);
    if (ec) co_return ec;
    std::memcpy(dst.data() + have, rbuf_.data() + rpos_, left);
    rpos_ += left;
    co_return asio::error_code();
  }
  auto [ec, got] =
      co_await asio::async_read(socket_, asio::buffer(dst.data() + have, left),
                                asio::bind_cancellation_slot(read_cancel_.slot(), kNoThrow));
  broker_.metrics.bytes_in.Add(got);
  Touch();
  co_return ec;
}

asio::awaitable<void> Connection::ReadLoop(std::shared_ptr<Connection> self) {
  const BrokerConfig& cfg = broker_.config;
  // Reports a failed read: EOF between frames is a normal close, EOF inside one is a truncated
  // frame, anything else is a network error.
  auto read_failed = [&](asio::error_code ec, std::string_view where) {
    if (closing()) return;
    if (ec == asio::error::eof && where.empty()) {
      spdlog::debug("native {}: client closed the connection", peer_);
    } else if (ec == asio::error::eof) {
      Malformed(absl::StrCat("truncated frame: the connection ended inside the ",
                             absl::string_view(where.data(), where.size())));
    } else {
      spdlog::info("native {}: read failed: {}", peer_, ec.message());
      Close("read error");
    }
  };

  while (!closing()) {
    while (!closing() && (!gate_open_ || inflight_bytes_ > cfg.max_inflight_bytes_per_connection ||
                          queue_.size() >= kMaxInflightRequests)) {
      co_await reader_wake_.async_wait(kNoThrow);
    }
    if (closing()) break;

    asio::error_code ec = co_await Fill(4);
    if (ec) {
      read_failed(ec, rend_ == rpos_ ? "" : "length field");
      break;
    }
    const uint32_t length = sluice::native::GetFrameU32(rbuf_.data() + rpos_);
    if (auto why = sluice::native::CheckFrameLength(length, cfg.max_frame_bytes)) {
      Malformed(*why);
      break;
    }
    ec = co_await Fill(8);
    if (ec) {
      read_failed(ec, "header length field");
      break;
    }
    const uint32_t header_length = sluice::native::GetFrameU32(rbuf_.data() + rpos_ + 4);
    if (auto why = sluice::native::CheckHeaderLength(header_length, length)) {
      Malformed(*why);
      break;
    }
    rpos_ += sluice::native::kFramePrefixSize;
    const uint32_t body_length = length - 4;  // header + payload
    auto body = std::make_unique_for_overwrite<uint8_t[]>(body_length);
    ec = co_await ReadExactly(std::span<uint8_t>(body.get(), body_length));
    if (ec) {
      read_failed(ec, absl::StrCat("body of a ", length, "-byte frame"));
      break;
    }
    const auto arrived = Clock::now();

    auto header = std::make_unique<pb::RequestHeader>();
    if (!header->ParseFromArray(body.get(), static_cast<int>(header_length))) {
      Malformed(absl::StrCat("unparsable request header (", header_length, " bytes)"));
      break;
    }
    const HandlerInfo* handler = nullptr;
    const bool version_ok = header->version() >= sluice::native::kMinProtocolVersion &&
                            header->version() <= sluice::native::kProtocolVersion;
    if (version_ok) {
      // An unknown request kind of a supported version is a broken client, not a newer one.
      if (header->request_case() == pb::RequestHeader::REQUEST_NOT_SET) {
        Malformed("request header without a request");
        break;
      }
      if (auto why = CheckRequestPayload(*header, body_length - header_length)) {
        Malformed(*why);
        break;
      }
      handler = FindHandler(header->request_case());
    }
    if (closing()) break;  // draining: no new requests start

    auto slot = std::make_shared<Slot>();
    slot->frame_bytes = uint64_t{length} + 4;
    inflight_bytes_ += slot->frame_bytes;
    queue_.push_back(slot);
    gate_open_ = false;
    // Spawned as an awaitable whose parameters own everything it needs (see broker/README.md,
    // "GCC 12 coroutine pitfalls", for why not a capturing lambda).
    asio::co_spawn(executor(),
                   RunRequest(shared_from_this(), std::move(slot), std::move(body), header_length,
                              body_length, std::move(header), handler, arrived),
                   [peer = peer_](std::exception_ptr e) { LogException(peer, e); });
  }
  reader_done_ = true;
  writer_wake_.cancel();
}

asio::awaitable<void> Connection::RunRequest(
    std::shared_ptr<Connection> self, std::shared_ptr<Slot> slot, std::unique_ptr<uint8_t[]> body,
    uint32_t header_length, uint32_t body_length, std::unique_ptr<pb::RequestHeader> header,
    const HandlerInfo* handler, Clock::time_point arrived) {
  Response& resp = slot->response;
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
      spdlog::error("native {}: {} handler failed: {}", peer_, handler->name, what);
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
  slot->ready = true;
  writer_wake_.cancel();
}

asio::awaitable<bool> Connection::Send(const std::string& bytes, bool more) {
  size_t at = 0;
  while (at < bytes.size()) {
    auto [ec, n] = co_await socket_.async_send(asio::buffer(bytes.data() + at, bytes.size() - at),
                                               more ? MSG_MORE : 0, kNoThrow);
    if (ec) {
      if (!closed_) spdlog::info("native {}: write failed: {}", peer_, ec.message());
      co_return false;
    }
    at += n;
    broker_.metrics.bytes_out.Add(n);
  }
  co_return true;
}

asio::awaitable<bool> Connection::WriteReady() {
  std::string out;
  while (!queue_.empty() && queue_.front()->ready && !closed_) {
    std::shared_ptr<Slot> slot = queue_.front();
    Response& r = slot->response;
    if (r.send) {
      out += EncodeResponseHead(r.header, r.payload_bytes);
      if (!r.payload.empty()) {
        bool sent_head = co_await Send(out, /*more=*/true);
        if (!sent_head) co_return false;
        out.clear();
        uint64_t sent = 0;
        absl::Status s = co_await SendSlices(socket_, r.payload, &sent);
        broker_.metrics.bytes_out.Add(sent);
        if (!s.ok()) {
          if (!closed_)
            spdlog::warn("native {}: sending fetch data: {}", peer_, ToStd(s.message()));
          co_return false;
        }
      } else if (out.size() >= kMaxCoalescedBytes) {
        bool sent = co_await Send(out, /*more=*/false);
        if (!sent) co_return false;
        out.clear();
      }
    }
    queue_.pop_front();
    inflight_bytes_ -= slot->frame_bytes;
  }
  if (!out.empty()) {
    bool sent = co_await Send(out, /*more=*/false);
    if (!sent) co_return false;
  }
  Touch();
  reader_wake_.cancel();
  co_return true;
}

asio::awaitable<void> Connection::WriteLoop(std::shared_ptr<Connection> self) {
  while (!closed_) {
    if (!queue_.empty() && queue_.front()->ready) {
      bool written = co_await WriteReady();
      if (!written) {
        Close("write failed");
        break;
      }
      continue;
    }
    if (reader_done_ && queue_.empty()) {
      Close(draining_ ? "drained" : "reader finished");
      break;
    }
    co_await writer_wake_.async_wait(kNoThrow);
  }
}

asio::awaitable<void> Connection::IdleLoop(std::shared_ptr<Connection> self) {
  const auto idle = std::chrono::milliseconds(broker_.config.idle_timeout_ms);
  while (!closed_) {
    idle_timer_.expires_at(last_activity_ + idle);
    co_await idle_timer_.async_wait(kNoThrow);
    if (closed_) break;
    if (Clock::now() - last_activity_ < idle) continue;
    if (queue_.empty()) {
      spdlog::info("native {}: closing connection idle for {} ms", peer_,
                   broker_.config.idle_timeout_ms);
      Close("idle");
      break;
    }
    Touch();  // a request in flight (a long poll) is activity
  }
}

}  // namespace sluice::broker::native
