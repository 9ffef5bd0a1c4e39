#pragma once
// BufferPool: the producer's bound on memory held by unsent records (buffer.memory). Send()
// reserves a record's estimated size here, blocking while the pool is exhausted, and the io thread
// releases it when the record's batch completes. This is the one object of the producer shared by
// every thread, so it is the one with a lock.
//
// Example:
//   BufferPool pool(32 << 20);
//   if (pool.Reserve(n, Clock::now() + max_block).ok()) { ...; pool.Release(n); }

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include "absl/status/status.h"

namespace sluice::client {

class BufferPool {
 public:
  explicit BufferPool(size_t capacity) : capacity_(capacity), available_(capacity) {}

  // Takes `bytes` (<= capacity), waiting until `deadline` for enough to be released.
  // ResourceExhausted on timeout, Cancelled after Close().
  absl::Status Reserve(size_t bytes, std::chrono::steady_clock::time_point deadline);
  void Release(size_t bytes);
  // Fails current and later Reserve() calls.
  void Close();

  size_t capacity() const { return capacity_; }
  size_t available() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t available_;     // guarded by mu_
  bool closed_ = false;  // guarded by mu_
};

}  // namespace sluice::client
