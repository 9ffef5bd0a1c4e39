#pragma once
// IoContextPool: one asio::io_context per network thread (Asio's http/server2 pattern), each run
// by its own thread. Connections are spread round-robin with next().
//
// Lifecycle: construct, Start() launches the threads (each io_context is kept alive by a work
// guard), Stop() releases the guards and stops the contexts, Join() waits for the threads. The
// io_contexts themselves live until the pool is destroyed, so handlers posted after Stop() are
// discarded safely. next() may be called from any thread.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "asio/executor_work_guard.hpp"
#include "asio/io_context.hpp"

namespace sluice::broker {

class IoContextPool {
 public:
  explicit IoContextPool(int threads);
  ~IoContextPool();
  IoContextPool(const IoContextPool&) = delete;
  IoContextPool& operator=(const IoContextPool&) = delete;

  void Start();
  void Stop();
  void Join();

  asio::io_context& next();
  asio::io_context& at(size_t i) { return *contexts_[i]; }
  size_t size() const { return contexts_.size(); }

 private:
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace sluice::broker
