#pragma once
// Connection: one native-protocol client connection.
//
// Owns the socket, a read buffer, and the ordered queue of requests that have been read but not
// yet answered. Three coroutines run on the connection's executor (one io_context thread, so no
// locks): the reader reads and checks frames and starts each request's handler; the writer sends
// responses strictly in request order as they become ready (Fetch payloads via sendfile); the
// idle watchdog closes a connection silent for --idle-timeout-ms. Each handler runs in its own
// coroutine, so a produce waiting for fdatasync does not hold up later requests (pipelining);
// the ordering contract in handler.h says when the next request may start.
//
// Backpressure: the reader stops while the unanswered requests' frames hold more than
// --max-inflight-bytes-per-connection bytes or kMaxInflightRequests requests; nothing is read
// that cannot be held. A malformed frame logs the peer and the reason at warn and closes this
// connection only.
//
// Lifecycle: created by the NativeListener for an accepted socket; Start() spawns the coroutines,
// each holding a shared_ptr, so the object lives until the last of them (and of its handlers)
// ends. Drain() stops reading and closes once every in-flight request is answered (graceful
// shutdown); Close() closes at once. Both must run on the connection's executor.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "asio/awaitable.hpp"
#include "asio/cancellation_signal.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/steady_timer.hpp"
#include "broker/native/handler.h"
#include "broker/services.h"

namespace sluice::broker::native {

class ConnectionTracker;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Most unanswered requests a connection may have, whatever their size.
  static constexpr size_t kMaxInflightRequests = 1024;
  static constexpr size_t kReadBufferBytes = 64 * 1024;

  Connection(asio::ip::tcp::socket socket, BrokerServices& broker, ConnectionTracker& tracker);
  ~Connection();

  void Start();
  void Drain();
  void Close(std::string_view reason);

  asio::any_io_executor executor() { return socket_.get_executor(); }
  const std::string& peer() const { return peer_; }
  const asio::ip::tcp::endpoint& local_endpoint() const { return local_; }
  bool closing() const { return closed_ || draining_; }

 private:
  friend class RequestContext;

  // One request between being read and its response being written.
  struct Slot {
    uint64_t frame_bytes = 0;  // counted against the in-flight limit until written
    bool ready = false;
    Response response;
  };

  // Each loop holds `self`, keeping the connection alive while it runs.
  asio::awaitable<void> ReadLoop(std::shared_ptr<Connection> self);
  asio::awaitable<void> WriteLoop(std::shared_ptr<Connection> self);
  asio::awaitable<void> IdleLoop(std::shared_ptr<Connection> self);
  asio::awaitable<void> RunRequest(std::shared_ptr<Connection> self, std::shared_ptr<Slot> slot,
                                   std::unique_ptr<uint8_t[]> body, uint32_t header_length,
                                   uint32_t body_length, std::unique_ptr<pb::RequestHeader> header,
                                   const HandlerInfo* handler,
                                   std::chrono::steady_clock::time_point arrived);
  // Ensures `n` (<= kReadBufferBytes) bytes are buffered. Returns the read error, if any.
  asio::awaitable<asio::error_code> Fill(size_t n);
  // Reads exactly dst.size() bytes, buffered ones first.
  asio::awaitable<asio::error_code> ReadExactly(std::span<uint8_t> dst);
  // Writes the ready responses at the front of the queue. False if the socket failed.
  asio::awaitable<bool> WriteReady();
  // Writes all of `bytes`; `more` (MSG_MORE) when a sendfile payload follows at once.
  asio::awaitable<bool> Send(const std::string& bytes, bool more);
  void Malformed(const std::string& reason);
  void ReleaseGate();
  void Touch() { last_activity_ = std::chrono::steady_clock::now(); }

  asio::ip::tcp::socket socket_;
  BrokerServices& broker_;
  ConnectionTracker& tracker_;
  std::string peer_;
  asio::ip::tcp::endpoint local_;

  std::vector<uint8_t> rbuf_;
  size_t rpos_ = 0;
  size_t rend_ = 0;

  std::deque<std::shared_ptr<Slot>> queue_;
  uint64_t inflight_bytes_ = 0;
  bool gate_open_ = true;  // the last started request has released the next one
  bool reader_done_ = false;
  bool draining_ = false;
  bool closed_ = false;
  asio::steady_timer reader_wake_;  // backpressure and the ordering gate
  asio::steady_timer writer_wake_;  // a response became ready
  asio::steady_timer idle_timer_;
  asio::cancellation_signal read_cancel_;  // Drain() stops a pending read with it
  std::chrono::steady_clock::time_point last_activity_;
  std::vector<std::weak_ptr<Waker>> wakers_;
};

}  // namespace sluice::broker::native
