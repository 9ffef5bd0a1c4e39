#pragma once
// FramedConnection: the protocol-independent part of a pipelined request/response connection
// (native and Kafka): the socket and its read buffer, the ordered queue of requests read but not
// yet answered, backpressure, the in-order writer, the idle watchdog, drain and close.
//
// A protocol derives from it and implements ReadFrames(): read a frame with Fill()/ReadExactly(),
// check it, Enqueue() a slot and spawn the request's coroutine, which fills the slot's Outgoing
// and calls Complete(). Three coroutines run on the connection's executor (one io_context
// thread, so no locks): the reader (ReadFrames), the writer, which sends responses strictly in
// request order as they become ready, and the idle watchdog, which closes a connection silent for
// --idle-timeout-ms while nothing is in flight, and one whose responses could not be written for
// that long (a client that stopped reading; a request still being served, such as a long poll, is
// activity). Each request runs in its own coroutine, so a request waiting (for fdatasync, a long
// poll) does not hold up later ones; Enqueue() closes an
// ordering gate that the request reopens with ReleaseGate() once the part of its work that must
// happen in request order is done (the handler.h files state the contract).
//
// Backpressure: WaitForCapacity() holds the reader while the unanswered requests' frames hold more
// than --max-inflight-bytes-per-connection bytes or kMaxInflightRequests requests; nothing is read
// that cannot be held. Malformed() and Reject() log the peer and the reason at warn and close
// this connection only.
//
// Responses are sent without copying: each Outgoing is a head (the frame prefix), the body bytes
// and file ranges spliced into them; ready responses are gathered into one sendmsg (up to
// kMaxCoalescedBytes) and file ranges go out with sendfile (native/sendfile.h).
//
// Lifecycle: created by a net::Listener for an accepted socket; Start() spawns the coroutines,
// each holding a shared_ptr, so the object lives until the last of them (and of its requests)
// ends; the destructor removes it from the tracker. Drain() stops reading and closes once every
// in-flight request is answered (graceful shutdown); Close() closes at once. Everything but the
// constructor runs on the connection's executor.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "asio/awaitable.hpp"
#include "asio/buffer.hpp"
#include "asio/cancellation_signal.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/steady_timer.hpp"
#include "broker/net/listener.h"
#include "broker/notifier.h"
#include "broker/services.h"
#include "storage/partition_log.h"

namespace sluice::broker::net {

// One response on its way out: `head`, then `bytes` with file ranges spliced in before the byte
// at each `at` (ascending, <= bytes.size()). Nothing is sent when `send` is false (acks=0).
struct Outgoing {
  struct Splice {
    size_t at;
    storage::FileSlice slice;
  };
  std::string head;
  std::vector<uint8_t> bytes;
  std::vector<Splice> splices;
  bool send = true;
};

class FramedConnection : public TrackedConnection,
                         public std::enable_shared_from_this<FramedConnection> {
 public:
  // Most unanswered requests a connection may have, whatever their size.
  static constexpr size_t kMaxInflightRequests = 1024;
  static constexpr size_t kReadBufferBytes = 64 * 1024;
  // Ready responses are gathered into one write up to this many bytes.
  static constexpr size_t kMaxCoalescedBytes = 256 * 1024;

  // `protocol` names the connection in log lines ("native", "kafka").
  FramedConnection(std::string_view protocol, asio::ip::tcp::socket socket, BrokerServices& broker,
                   ConnectionTracker& tracker);
  ~FramedConnection() override;

  asio::any_io_executor executor() override { return socket_.get_executor(); }
  void Start() override;
  void Drain() override;
  void Close(std::string_view reason) override;

  const std::string& peer() const { return peer_; }
  const asio::ip::tcp::endpoint& local_endpoint() const { return local_; }
  bool closed() const { return closed_; }
  bool closing() const { return closed_ || draining_; }
  // The request that last called Enqueue() lets the reader go on (the ordering gate).
  void ReleaseGate();
  // `w` is woken when the connection closes (long polls end early); at once if it is closed.
  void RegisterWaker(const std::shared_ptr<Waker>& w);

 protected:
  // One request between being read and its response being written.
  struct Slot {
    uint64_t frame_bytes = 0;  // counted against the in-flight limit until written
    bool ready = false;
    Outgoing out;
  };

  // The protocol's reader: reads and starts requests until closing() or a failure, which it
  // reports (ReadFailed(), Malformed()) before returning.
  virtual asio::awaitable<void> ReadFrames() = 0;

  // Returns once the gate is open and the in-flight limits allow another request, or closing().
  asio::awaitable<void> WaitForCapacity();
  // Ensures `n` (<= kReadBufferBytes) bytes are buffered. Returns the read error, if any.
  asio::awaitable<asio::error_code> Fill(size_t n);
  // Reads exactly dst.size() bytes, buffered ones first.
  asio::awaitable<asio::error_code> ReadExactly(std::span<uint8_t> dst);
  const uint8_t* buffered() const { return rbuf_.get() + rpos_; }
  size_t buffered_size() const { return rend_ - rpos_; }
  void Consume(size_t n) { rpos_ += n; }
  // Reports a failed read: EOF between frames (`where` empty) is a normal end of input (what was
  // read is still answered), EOF inside one a truncated frame (closes), anything else a network
  // error (closes).
  void ReadFailed(asio::error_code ec, std::string_view where);
  // Bad input, logged at warn with the peer and counted in malformed_frames. Malformed() closes
  // the connection at once ("malformed frame: why"). Reject() ("why") stops reading and closes
  // once every request read before is answered, as Kafka, which reads a request only after
  // answering the one before, does.
  void Malformed(std::string_view reason);
  void Reject(std::string_view reason);
  // Queues the slot of a request whose frame took `frame_bytes` and closes the ordering gate.
  std::shared_ptr<Slot> Enqueue(uint64_t frame_bytes);
  // The slot's response is final: the writer sends it in its turn.
  void Complete(Slot& slot);
  const std::string& protocol() const { return protocol_; }
  // Logs an exception that escaped a coroutine of this connection.
  static void LogException(const std::string& what, std::exception_ptr e);

  BrokerServices& broker_;

 private:
  // Each loop holds `self`, keeping the connection alive while it runs.
  asio::awaitable<void> ReadLoop(std::shared_ptr<FramedConnection> self);
  asio::awaitable<void> WriteLoop(std::shared_ptr<FramedConnection> self);
  asio::awaitable<void> IdleLoop(std::shared_ptr<FramedConnection> self);
  // Writes the ready responses at the front of the queue. False if the socket failed.
  asio::awaitable<bool> WriteReady();
  // Sends all of `bufs` (consumed as it goes); `more` (MSG_MORE) when file data follows at once.
  asio::awaitable<bool> SendBuffers(std::vector<asio::const_buffer>& bufs, bool more);
  void Touch() { last_activity_ = std::chrono::steady_clock::now(); }

  std::string protocol_;
  asio::ip::tcp::socket socket_;
  ConnectionTracker& tracker_;
  std::string peer_;
  asio::ip::tcp::endpoint local_;

  // kReadBufferBytes, allocated by the first Fill() and never zeroed: only the pages data arrived
  // in become resident, so a connection that sent one small request costs a page, not 64 KiB.
  std::unique_ptr<uint8_t[]> rbuf_;
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
  // Bytes sendfile has moved so far (it reports progress here while it runs) and the count the
  // idle watchdog last saw: a long file transfer to a slow reader is activity.
  uint64_t file_bytes_sent_ = 0;
  uint64_t file_bytes_seen_ = 0;
  std::vector<std::weak_ptr<Waker>> wakers_;
};

// A request's view of its connection, the part both protocols' RequestContext share (they derive
// from it and add the broker and their protocol's fields). Lives in the request's coroutine;
// used on the connection's executor only.
class RequestScope {
 public:
  explicit RequestScope(std::shared_ptr<FramedConnection> conn) : conn_(std::move(conn)) {}

  // Lets the connection start the next request (see the protocols' ordering contract in their
  // handler.h). Idempotent.
  void ReleaseNext();
  // True once the connection is closed: nobody will read the response.
  bool connection_closed() const { return conn_->closed(); }
  // `w` is woken when the connection closes (long polls end early).
  void RegisterWaker(const std::shared_ptr<Waker>& w) { conn_->RegisterWaker(w); }
  const std::string& peer() const { return conn_->peer(); }
  // The address the client connected to (advertised in Metadata when listening on 0.0.0.0).
  asio::ip::tcp::endpoint local_endpoint() const { return conn_->local_endpoint(); }

 private:
  std::shared_ptr<FramedConnection> conn_;
  bool released_ = false;
};

// A listener (the shared --max-connections limit and tracking) that makes a `Conn`, constructed
// as Conn(socket, broker, tracker), of every accepted socket. `broker` and `tracker` must outlive
// the listener and every connection it makes.
template <typename Conn>
std::unique_ptr<Listener> MakeConnectionListener(IoContextPool& pool, BrokerServices& broker,
                                                 ConnectionTracker& tracker, std::string name) {
  ListenerOptions options{.name = std::move(name),
                          .tracker = &tracker,
                          .max_connections = broker.config.max_connections,
                          .metrics = &broker.metrics};
  return std::make_unique<Listener>(
      pool, std::move(options),
      [&broker, &tracker](asio::ip::tcp::socket socket) -> std::shared_ptr<TrackedConnection> {
        return std::make_shared<Conn>(std::move(socket), broker, tracker);
      });
}

}  // namespace sluice::broker::net
