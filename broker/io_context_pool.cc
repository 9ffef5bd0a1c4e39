#include "broker/io_context_pool.h"

#include <exception>

#include "spdlog/spdlog.h"

namespace sluice::broker {

IoContextPool::IoContextPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    // Concurrency hint 1: each context is run by exactly one thread.
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
}

IoContextPool::~IoContextPool() {
  Stop();
  Join();
}

void IoContextPool::Start() {
  for (auto& c : contexts_) guards_.emplace_back(asio::make_work_guard(*c));
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      for (;;) {
        try {
          contexts_[i]->run();
          return;
        } catch (const std::exception& e) {
          // A handler threw: log it and keep the thread serving.
          spdlog::error("io thread {}: unhandled exception: {}", i, e.what());
        }
      }
    });
  }
}

void IoContextPool::Stop() {
  for (auto& g : guards_) g.reset();
  guards_.clear();
  for (auto& c : contexts_) c->stop();
}

void IoContextPool::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

asio::io_context& IoContextPool::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

}  // namespace sluice::broker
