#pragma once
// The native protocol's TCP listener and the registry of its live connections.
//
// ConnectionTracker knows every live Connection (for --max-connections and for graceful
// shutdown). Connections add themselves when started and remove themselves when destroyed, on
// their own threads, so it takes a mutex. Owned by the Server; must outlive every Connection
// (that is, the io_contexts that run them).
//
// NativeListener owns the acceptor. Its accept loop runs on the pool's first io_context and hands
// each accepted socket to the next io_context round-robin, where the Connection lives from then
// on. Lifecycle: Bind() (the port is known right after it), Start(), Stop() (closes the acceptor,
// from any thread). Must be destroyed before the io_contexts.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "absl/status/status.h"
#include "asio/ip/tcp.hpp"
#include "broker/config.h"
#include "broker/io_context_pool.h"
#include "broker/services.h"

namespace sluice::broker::native {

class Connection;

class ConnectionTracker {
 public:
  void Add(const std::shared_ptr<Connection>& c);
  void Remove(const Connection* c);
  size_t count() const { return count_.load(std::memory_order_acquire); }
  // Posts Drain() (graceful) or Close() to every live connection on its executor.
  void DrainAll();
  void CloseAll();

 private:
  void ForEach(const std::function<void(const std::shared_ptr<Connection>&)>& fn);

  std::atomic<size_t> count_{0};
  std::mutex mu_;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> live_;
};

class NativeListener {
 public:
  NativeListener(IoContextPool& pool, BrokerServices& broker, ConnectionTracker& tracker);
  ~NativeListener();

  absl::Status Bind(const HostPort& addr);
  uint16_t port() const;
  void Start();
  void Stop();

 private:
  asio::awaitable<void> AcceptLoop();

  IoContextPool& pool_;
  BrokerServices& broker_;
  ConnectionTracker& tracker_;
  asio::ip::tcp::acceptor acceptor_;
};

}  // namespace sluice::broker::native
