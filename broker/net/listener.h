#pragma once
// TCP listeners and the registry of live connections, shared by every protocol the broker serves
// (native, Kafka, HTTP).
//
// TrackedConnection is what the registry needs from a connection: its executor, Start(), Drain()
// and Close(). ConnectionTracker knows every live tracked connection (for --max-connections and
// graceful shutdown). Connections are added by the Listener when accepted and remove themselves
// when destroyed, on their own threads, so it takes a mutex. One tracker serves the native and
// the Kafka listeners, so --max-connections bounds the broker as a whole, like Kafka's
// max.connections. Owned by the Server; must outlive every connection (that is, the io_contexts
// that run them).
//
// Listener owns an acceptor. Its accept loop runs on the pool's first io_context and accepts each
// socket onto the next io_context round-robin, where it lives from then on. With a tracker, a
// socket beyond the connection limit is closed at once (counted, and logged at most once a
// second); otherwise `on_accept` turns it into a connection, which the Listener tracks and
// starts on its own executor. Lifecycle: Bind() (the port is known right after it), Start(),
// Stop() (closes the acceptor; any thread). Must be destroyed before the io_contexts.
//
// Example:
//   net::Listener l(pool, {.name = "kafka", .tracker = &tracker, .max_connections = 100,
//                          .metrics = &metrics},
//                   [&](asio::ip::tcp::socket s) { return std::make_shared<MyConn>(std::move(s));
//                   });
//   if (absl::Status s = l.Bind(addr); !s.ok()) return s;
//   l.Start();

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "asio/any_io_executor.hpp"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "broker/config.h"
#include "broker/io_context_pool.h"
#include "broker/metrics.h"

namespace sluice::broker::net {

class TrackedConnection {
 public:
  virtual ~TrackedConnection() = default;
  virtual asio::any_io_executor executor() = 0;
  // The methods below run on executor() only.
  virtual void Start() = 0;
  // Stop reading; close once every request read so far is answered.
  virtual void Drain() = 0;
  virtual void Close(std::string_view reason) = 0;
};

class ConnectionTracker {
 public:
  void Add(const std::shared_ptr<TrackedConnection>& c);
  void Remove(const TrackedConnection* c);
  size_t count() const { return count_.load(std::memory_order_acquire); }
  // Posts Drain() (graceful) or Close() to every live connection on its executor.
  void DrainAll();
  void CloseAll();

 private:
  void ForEach(const std::function<void(const std::shared_ptr<TrackedConnection>&)>& fn);

  std::atomic<size_t> count_{0};
  std::mutex mu_;
  std::unordered_map<const TrackedConnection*, std::weak_ptr<TrackedConnection>> live_;
};

struct ListenerOptions {
  std::string name;  // "native", "kafka", "http": log lines and bind errors
  // Null: sockets are neither limited nor tracked (on_accept then returns nullptr and runs the
  // socket itself).
  ConnectionTracker* tracker = nullptr;
  int max_connections = 0;     // with a tracker: live connections beyond this are refused
  Metrics* metrics = nullptr;  // with a tracker: accepted/refused counters
};

class Listener {
 public:
  // Runs on the acceptor's thread for each admitted socket, which already belongs to the
  // io_context it will run on. Returns the connection to track and start (not started yet), or
  // nullptr when it took care of the socket itself.
  using OnAccept = std::function<std::shared_ptr<TrackedConnection>(asio::ip::tcp::socket)>;

  Listener(IoContextPool& pool, ListenerOptions options, OnAccept on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  absl::Status Bind(const HostPort& addr);
  uint16_t port() const;
  void Start();
  void Stop();

 private:
  asio::awaitable<void> AcceptLoop();
  // Closes `socket` when the tracker is at the limit; true if it did.
  bool Refuse(asio::ip::tcp::socket& socket);

  IoContextPool& pool_;
  ListenerOptions options_;
  OnAccept on_accept_;
  asio::ip::tcp::acceptor acceptor_;
  std::string host_;  // as bound, for the log line
  std::chrono::steady_clock::time_point last_refusal_log_{};
  uint64_t refused_since_log_ = 0;
};

}  // namespace sluice::broker::net
