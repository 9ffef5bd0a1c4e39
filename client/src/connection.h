#pragma once
// Connection: one framed TCP connection to a broker's native port, with request/response
// correlation, per-request timeouts and reconnection.
//
// Owns the socket, the queue of requests not yet written and the requests written but not yet
// answered. The broker answers in request order, so a response must match the oldest written
// request's id; anything else ends the session. A session runs a reader and a writer coroutine;
// when either fails the socket is closed, every written request fails with Unavailable (the
// caller decides whether to retry) and unwritten ones wait for the next session.
// Reconnection is lazy: a new session starts only when requests are queued, trying the
// addresses round-robin with exponential backoff (reconnect_backoff doubling up to
// reconnect_backoff_max, reset by a successful connect). A request still unanswered at its
// deadline fails with DeadlineExceeded; if it had been written, the session is closed too,
// since the responses behind it can no longer be matched.
//
// Thread: everything runs on the owning client's io thread; every method must be called there.
// Callbacks are posted, never run inline, so they may call back into the connection.
// Lifecycle: created by a client component, shared with its coroutines; Close() fails whatever
// is outstanding with Cancelled and makes later Send()s fail the same way.
//
// Example (on the io thread):
//   auto conn = Connection::Create(io.executor(), {"127.0.0.1:9093"}, ConnectionOptions{});
//   native::RequestHeader h;
//   h.mutable_metadata();
//   absl::StatusOr<Response> r = co_await conn->Call(std::move(h), std::chrono::seconds(30));

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio.hpp"
#include "proto/native.pb.h"
#include "sluice/client_config.h"

namespace sluice::client {

using Clock = std::chrono::steady_clock;

// A decoded response frame. `body` owns the frame bytes; the payload is a view into it.
struct Response {
  native::ResponseHeader header;
  std::string body;
  size_t payload_offset = 0;
  std::string_view payload() const { return std::string_view(body).substr(payload_offset); }
};

using ResponseCallback = std::function<void(absl::StatusOr<Response>)>;

struct ConnectionOptions {
  std::string client_id = "sluice-cpp";
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds reconnect_backoff{50};
  std::chrono::milliseconds reconnect_backoff_max{1000};
  uint32_t max_frame_bytes = 100u << 20;

  static ConnectionOptions From(const ClientConfig& config);
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  static std::shared_ptr<Connection> Create(asio::any_io_executor executor,
                                            std::vector<std::string> addresses,
                                            ConnectionOptions options);
  ~Connection();

  // Queues a request; `header`'s version, request_id and client_id are set here. `done` gets the
  // response (or, with expect_response false, an empty Response once the frame is written), or
  // an error: Unavailable (transport), DeadlineExceeded (`timeout` passed), Cancelled (Close), or
  // the mapped request-level error the broker put in the response header.
  void Send(native::RequestHeader header, std::string payload, std::chrono::milliseconds timeout,
            bool expect_response, ResponseCallback done);

  // Send() for coroutines.
  asio::awaitable<absl::StatusOr<Response>> Call(native::RequestHeader header,
                                                 std::chrono::milliseconds timeout,
                                                 std::string payload = {});

  void Close();

  // Requests queued, being written or awaiting a response.
  size_t outstanding() const { return queue_.size() + in_flight_.size() + writing_; }
  bool connected() const { return connected_; }
  bool closed() const { return closed_; }
  const std::string& name() const { return name_; }

 private:
  struct Pending {
    uint64_t request_id = 0;
    std::string head;  // frame prefix + serialized header
    std::string payload;
    Clock::time_point deadline;
    bool expect_response = true;
    ResponseCallback done;
  };

  Connection(asio::any_io_executor executor, std::vector<std::string> addresses,
             ConnectionOptions options);

  void EnsureRunning();
  asio::awaitable<void> Run();
  asio::awaitable<absl::Status> Connect();
  asio::awaitable<void> ReadLoop();
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> Watchdog();
  void EndSession(absl::Status why);
  void ExpireRequests(Clock::time_point now);
  void Complete(ResponseCallback done, absl::StatusOr<Response> result);

  asio::any_io_executor executor_;
  const std::vector<std::string> addresses_;
  const ConnectionOptions options_;
  const std::string name_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer write_signal_;  // expires never; cancelled to wake the writer
  asio::steady_timer backoff_timer_;
  asio::steady_timer watchdog_timer_;

  std::deque<Pending> queue_;      // not yet written, in send order
  std::deque<Pending> in_flight_;  // written (or being written), awaiting responses in order
  size_t writing_ = 0;             // a response-less request whose write is under way
  uint64_t next_request_id_ = 1;
  size_t next_address_ = 0;
  int failures_ = 0;      // consecutive failed connects
  bool running_ = false;  // Run() is active
  bool watchdog_running_ = false;
  bool connected_ = false;
  bool closed_ = false;
  absl::Status session_error_;  // why the current session ended (first reason wins)
  absl::Status connect_error_;  // why the last connect failed, for timeout messages
};

// ConnectionPool: the connections of one client component, one per broker address plus the
// bootstrap connection (which tries every bootstrap address). Owned by that component, io thread
// only; CloseAll() at shutdown.
class ConnectionPool {
 public:
  ConnectionPool(asio::any_io_executor executor, std::vector<std::string> bootstrap,
                 ConnectionOptions options);
  std::shared_ptr<Connection> Bootstrap();
  // The connection to the broker at `address` ("host:port"); the bootstrap connection when the
  // address is empty or has no usable port (a broker that advertises nothing reachable).
  std::shared_ptr<Connection> Get(const std::string& address);
  void CloseAll();

 private:
  asio::any_io_executor executor_;
  std::vector<std::string> bootstrap_;
  ConnectionOptions options_;
  std::shared_ptr<Connection> bootstrap_connection_;
  std::map<std::string, std::shared_ptr<Connection>> by_address_;
};

// Splits "host:port".
absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(std::string_view address);

}  // namespace sluice::client
