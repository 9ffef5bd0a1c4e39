#pragma once
// Wake-ups for long-polling fetches.
//
// Waker belongs to one waiting request coroutine and lives on that coroutine's executor: Wait()
// runs there; Wake() may be called from any thread and posts at most one wake-up per arming.
//
// PartitionNotifier is the broker-wide registry of who waits on which partition. A fetch that
// found too little data registers its Waker under the partitions it reads, re-checks, and waits;
// Produce calls Notify() after appending to a partition. Keys are PartitionLog addresses (the
// waiting fetch holds the log, so an address cannot be reused while it is registered). Owned by
// the Server; thread-safe (one mutex, skipped entirely when nobody waits).
//
// Example (in a fetch handler):
//   auto waker = std::make_shared<Waker>(co_await asio::this_coro::executor);
//   notifier.Watch(keys, waker);
//   while (!enough() && !timed_out) { waker->Rearm(); if (!enough()) co_await
//   waker->Wait(deadline); } notifier.Unwatch(keys, waker);

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "asio/any_io_executor.hpp"
#include "asio/awaitable.hpp"
#include "asio/steady_timer.hpp"

namespace sluice::broker {

class Waker : public std::enable_shared_from_this<Waker> {
 public:
  explicit Waker(asio::any_io_executor ex) : ex_(ex), timer_(ex) {}

  // Any thread. Wakes the current or next Wait() (once per Rearm()).
  void Wake();
  // Owner's executor only.
  void Rearm() { fired_.store(false, std::memory_order_release); }
  // Owner's executor only: returns when woken or at `deadline`. Spurious returns are possible.
  asio::awaitable<void> Wait(std::chrono::steady_clock::time_point deadline);
  // Owner's executor only: wakes the current Wait() directly.
  void WakeLocal() { timer_.cancel(); }

 private:
  asio::any_io_executor ex_;
  asio::steady_timer timer_;
  std::atomic<bool> fired_{false};
};

class PartitionNotifier {
 public:
  using Key = const void*;

  void Watch(std::span<const Key> keys, const std::shared_ptr<Waker>& w);
  void Unwatch(std::span<const Key> keys, const std::shared_ptr<Waker>& w);
  // Wakes every waiter of `key`.
  void Notify(Key key);
  // Wakes every waiter now and any that registers later (the broker is stopping).
  void Shutdown();
  bool shutting_down() const { return shutdown_.load(std::memory_order_acquire); }

 private:
  std::atomic<int64_t> watchers_{0};
  std::atomic<bool> shutdown_{false};
  std::mutex mu_;
  std::unordered_map<Key, std::vector<std::shared_ptr<Waker>>> waiters_;
};

}  // namespace sluice::broker
