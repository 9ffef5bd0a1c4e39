#include "broker/net/connection.h"

#include <sys/socket.h>

#include <cassert>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "asio/bind_cancellation_slot.hpp"
#include "asio/co_spawn.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/use_awaitable.hpp"
#include "broker/native/sendfile.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"

namespace sluice::broker::net {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
// Buffers gathered into one sendmsg at most (Linux's IOV_MAX is 1024).
constexpr size_t kMaxGatherBuffers = 256;

std::string EndpointString(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return absl::StrCat("[", ep.address().to_string(), "]:", ep.port());
  return absl::StrCat(ep.address().to_string(), ":", ep.port());
}

void Gather(std::vector<asio::const_buffer>& bufs, size_t* pending, const void* p, size_t n) {
  if (n == 0) return;
  bufs.emplace_back(p, n);
  *pending += n;
}

}  // namespace

void FramedConnection::LogException(const std::string& what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::error("{}: unhandled exception: {}", what, x.what());
  }
}

FramedConnection::FramedConnection(std::string_view protocol, tcp::socket socket,
                                   BrokerServices& broker, ConnectionTracker& tracker)
    : broker_(broker),
      protocol_(protocol),
      socket_(std::move(socket)),
      tracker_(tracker),
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

FramedConnection::~FramedConnection() {
  tracker_.Remove(this);
  broker_.metrics.connections.Add(-1);
}

void FramedConnection::Start() {
  spdlog::debug("{} {}: connected", protocol_, peer_);
  auto self = shared_from_this();
  auto on_done = [what = absl::StrCat(protocol_, " ", peer_)](std::exception_ptr e) {
    LogException(what, e);
  };
  asio::co_spawn(executor(), ReadLoop(self), on_done);
  asio::co_spawn(executor(), WriteLoop(self), on_done);
  asio::co_spawn(executor(), IdleLoop(self), on_done);
}

void FramedConnection::Drain() {
  if (closed_ || draining_) return;
  draining_ = true;
  read_cancel_.emit(asio::cancellation_type::terminal);
  reader_wake_.cancel();
  writer_wake_.cancel();
}

void FramedConnection::Close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  spdlog::debug("{} {}: closed ({})", protocol_, peer_, reason);
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

void FramedConnection::ReleaseGate() {
  gate_open_ = true;
  reader_wake_.cancel();
}

void FramedConnection::RegisterWaker(const std::shared_ptr<Waker>& w) {
  if (closed_) {
    w->WakeLocal();
    return;
  }
  std::erase_if(wakers_, [](const std::weak_ptr<Waker>& x) { return x.expired(); });
  wakers_.push_back(w);
}

void FramedConnection::Malformed(std::string_view reason) {
  spdlog::warn("{} {}: closing connection: malformed frame: {}", protocol_, peer_, reason);
  broker_.metrics.malformed_frames.Add(1);
  Close("malformed frame");
}

void FramedConnection::Reject(std::string_view reason) {
  spdlog::warn("{} {}: closing connection: {}", protocol_, peer_, reason);
  broker_.metrics.malformed_frames.Add(1);
  Drain();
}

void FramedConnection::ReadFailed(asio::error_code ec, std::string_view where) {
  if (closing()) return;
  if (ec == asio::error::eof && where.empty()) {
    // The writer still answers what was read (the client may have only shut down its side).
    spdlog::debug("{} {}: client closed the connection", protocol_, peer_);
  } else if (ec == asio::error::eof) {
    Malformed(absl::StrCat("truncated frame: the connection ended inside the ",
                           absl::string_view(where.data(), where.size())));
  } else {
    spdlog::info("{} {}: read failed: {}", protocol_, peer_, ec.message());
    Close("read error");
  }
}

std::shared_ptr<FramedConnection::Slot> FramedConnection::Enqueue(uint64_t frame_bytes) {
  auto slot = std::make_shared<Slot>();
  slot->frame_bytes = frame_bytes;
  inflight_bytes_ += frame_bytes;
  queue_.push_back(slot);
  gate_open_ = false;
  return slot;
}

void FramedConnection::Complete(Slot& slot) {
  slot.ready = true;
  writer_wake_.cancel();
}

asio::awaitable<void> FramedConnection::WaitForCapacity() {
  const BrokerConfig& cfg = broker_.config;
  while (!closing() && (!gate_open_ || inflight_bytes_ > cfg.max_inflight_bytes_per_connection ||
                        queue_.size() >= kMaxInflightRequests)) {
    co_await reader_wake_.async_wait(kNoThrow);
  }
}

asio::awaitable<asio::error_code> FramedConnection::Fill(size_t n) {
  if (rend_ - rpos_ >= n) co_return asio::error_code();
  if (!rbuf_) rbuf_ = std::make_unique_for_overwrite<uint8_t[]>(kReadBufferBytes);
  if (rpos_ == rend_) {
    rpos_ = rend_ = 0;
  } else if (rpos_ + n > kReadBufferBytes) {
    std::memmove(rbuf_.get(), rbuf_.get() + rpos_, rend_ - rpos_);
    rend_ -= rpos_;
    rpos_ = 0;
  }
  while (rend_ - rpos_ < n) {
    auto [ec, got] = co_await socket_.async_read_some(
        asio::buffer(rbuf_.get() + rend_, kReadBufferBytes - rend_),
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

asio::awaitable<asio::error_code> FramedConnection::ReadExactly(std::span<uint8_t> dst) {
  size_t have = std::min(rend_ - rpos_, dst.size());
  if (have > 0) std::memcpy(dst.data(), rbuf_.get() + rpos_, have);
  rpos_ += have;
  size_t left = dst.size() - have;
  if (left == 0) co_return asio::error_code();
  if (left <= kReadBufferBytes / 2) {
    // Small remainder: read through the buffer, which also picks up the frames that follow.
    asio::error_code ec = co_await Fill(left);
    if (ec) co_return ec;
    std::memcpy(dst.data() + have, rbuf_.get() + rpos_, left);
    rpos_ += left;
    co_return asio::error_code();
  }
  // Straight into `dst`, one read at a time: every read that brings data is activity, so a large
  // request uploaded slowly is not mistaken for an idle connection.
  for (size_t at = have; at < dst.size();) {
    auto [ec, got] = co_await socket_.async_read_some(
        asio::buffer(dst.data() + at, dst.size() - at),
        asio::bind_cancellation_slot(read_cancel_.slot(), kNoThrow));
    if (got > 0) {
      at += got;
      broker_.metrics.bytes_in.Add(got);
      Touch();
    }
    if (ec) co_return ec;
  }
  co_return asio::error_code();
}

asio::awaitable<void> FramedConnection::ReadLoop(std::shared_ptr<FramedConnection> self) {
  co_await ReadFrames();
  reader_done_ = true;
  writer_wake_.cancel();
}

asio::awaitable<bool> FramedConnection::SendBuffers(std::vector<asio::const_buffer>& bufs,
                                                    bool more) {
  size_t first = 0;
  while (first < bufs.size()) {
    auto [ec, n] =
        co_await socket_.async_send(std::span(bufs).subspan(first), more ? MSG_MORE : 0, kNoThrow);
    if (ec) {
      if (!closed_) spdlog::info("{} {}: write failed: {}", protocol_, peer_, ec.message());
      co_return false;
    }
    broker_.metrics.bytes_out.Add(n);
    if (n > 0) Touch();  // progress: the client is reading
    while (n > 0 && first < bufs.size()) {
      const size_t take = std::min(n, bufs[first].size());
      bufs[first] += take;
      n -= take;
      if (bufs[first].size() == 0) ++first;
    }
  }
  bufs.clear();
  co_return true;
}

asio::awaitable<bool> FramedConnection::WriteReady() {
  std::vector<asio::const_buffer> bufs;
  size_t pending = 0;
  // Slots whose bytes `bufs` points into, kept alive until sent.
  std::vector<std::shared_ptr<Slot>> held;
  while (!queue_.empty() && queue_.front()->ready && !closed_) {
    std::shared_ptr<Slot> slot = queue_.front();
    const Outgoing& o = slot->out;
    if (o.send) {
      Gather(bufs, &pending, o.head.data(), o.head.size());
      size_t pos = 0;
      for (const Outgoing::Splice& sp : o.splices) {
        // Invariant: splices are ascending offsets into the bytes.
        assert(sp.at >= pos && sp.at <= o.bytes.size());
        Gather(bufs, &pending, o.bytes.data() + pos, sp.at - pos);
        pos = sp.at;
        if (!bufs.empty()) {
          bool sent = co_await SendBuffers(bufs, /*more=*/true);
          if (!sent) co_return false;
          pending = 0;
        }
        const uint64_t file_bytes_before = file_bytes_sent_;
        absl::Status s =
            co_await native::SendSlices(socket_, std::span(&sp.slice, 1), &file_bytes_sent_);
        broker_.metrics.bytes_out.Add(file_bytes_sent_ - file_bytes_before);
        if (file_bytes_sent_ != file_bytes_before) Touch();
        if (!s.ok()) {
          if (!closed_) {
            spdlog::warn("{} {}: sending file data: {}", protocol_, peer_, ToStd(s.message()));
          }
          co_return false;
        }
      }
      Gather(bufs, &pending, o.bytes.data() + pos, o.bytes.size() - pos);
      held.push_back(slot);
      if (pending >= kMaxCoalescedBytes || bufs.size() >= kMaxGatherBuffers) {
        bool sent = co_await SendBuffers(bufs, /*more=*/false);
        if (!sent) co_return false;
        pending = 0;
        held.clear();
      }
    }
    queue_.pop_front();
    inflight_bytes_ -= slot->frame_bytes;
  }
  if (!bufs.empty()) {
    bool sent = co_await SendBuffers(bufs, /*more=*/false);
    if (!sent) co_return false;
  }
  Touch();
  reader_wake_.cancel();
  co_return true;
}

asio::awaitable<void> FramedConnection::WriteLoop(std::shared_ptr<FramedConnection> self) {
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

asio::awaitable<void> FramedConnection::IdleLoop(std::shared_ptr<FramedConnection> self) {
  const auto idle = std::chrono::milliseconds(broker_.config.idle_timeout_ms);
  while (!closed_) {
    idle_timer_.expires_at(last_activity_ + idle);
    co_await idle_timer_.async_wait(kNoThrow);
    if (closed_) break;
    if (file_bytes_sent_ != file_bytes_seen_) {  // a sendfile still under way moved data
      file_bytes_seen_ = file_bytes_sent_;
      Touch();
    }
    if (Clock::now() - last_activity_ < idle) continue;
    if (queue_.empty()) {
      spdlog::info("{} {}: closing connection idle for {} ms", protocol_, peer_,
                   broker_.config.idle_timeout_ms);
      Close("idle");
      break;
    }
    if (queue_.front()->ready) {
      // The next response is ready but nothing could be written for the whole timeout: the
      // client stopped reading (Kafka closes such a connection as idle too).
      spdlog::warn(
          "{} {}: closing connection: the client read none of its responses for {} ms "
          "({} unanswered requests)",
          protocol_, peer_, broker_.config.idle_timeout_ms, queue_.size());
      Close("not reading");
      break;
    }
    Touch();  // a request still being served (a long poll) is activity
  }
}

void RequestScope::ReleaseNext() {
  if (released_) return;
  released_ = true;
  conn_->ReleaseGate();
}

}  // namespace sluice::broker::net
