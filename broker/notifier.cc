#include "broker/notifier.h"

#include <algorithm>

#include "asio/experimental/as_tuple.hpp"
#include "asio/post.hpp"
#include "asio/use_awaitable.hpp"

namespace sluice::broker {

void Waker::Wake() {
  if (fired_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(ex_, [self = shared_from_this()] { self->timer_.cancel(); });
}

asio::awaitable<void> Waker::Wait(std::chrono::steady_clock::time_point deadline) {
  timer_.expires_at(deadline);
  // operation_aborted means woken; either way the caller re-checks.
  co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

void PartitionNotifier::Watch(std::span<const Key> keys, const std::shared_ptr<Waker>& w) {
  {
    std::lock_guard l(mu_);
    for (Key k : keys) waiters_[k].push_back(w);
    watchers_.fetch_add(1, std::memory_order_release);
  }
  if (shutting_down()) w->Wake();
}

void PartitionNotifier::Unwatch(std::span<const Key> keys, const std::shared_ptr<Waker>& w) {
  std::lock_guard l(mu_);
  for (Key k : keys) {
    auto it = waiters_.find(k);
    if (it == waiters_.end()) continue;
    auto& v = it->second;
    if (auto pos = std::find(v.begin(), v.end(), w); pos != v.end()) v.erase(pos);
    if (v.empty()) waiters_.erase(it);
  }
  watchers_.fetch_sub(1, std::memory_order_release);
}

void PartitionNotifier::Notify(Key key) {
  // The common case, nobody long-polling, costs one atomic load. A fetch registers before its
  // last check for data, so an append it misses here is one it sees in that check.
  if (watchers_.load(std::memory_order_acquire) == 0) return;
  std::vector<std::shared_ptr<Waker>> wake;
  {
    std::lock_guard l(mu_);
    auto it = waiters_.find(key);
    if (it == waiters_.end()) return;
    wake = it->second;
  }
  for (auto& w : wake) w->Wake();
}

void PartitionNotifier::Shutdown() {
  shutdown_.store(true, std::memory_order_release);
  std::vector<std::shared_ptr<Waker>> wake;
  {
    std::lock_guard l(mu_);
    for (auto& [k, v] : waiters_) wake.insert(wake.end(), v.begin(), v.end());
  }
  for (auto& w : wake) w->Wake();
}

}  // namespace sluice::broker
