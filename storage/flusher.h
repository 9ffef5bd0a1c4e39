#pragma once
// Flusher: the background thread that makes appended data durable. It group-commits: every
// append waiting for durability on a partition is covered by that partition's next fdatasync,
// however many there are. It syncs a partition when someone waits on it (AwaitDurable, acks=all)
// or when the partition's flush policy (flush.messages / flush.bytes / flush.ms) says it is due.
//
// Owned by LogManager; runs one thread from construction to Stop(). Request() and Add() may be
// called from any thread.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/partition_log.h"

namespace sluice::storage {

class Flusher {
 public:
  // `tick_ms` bounds how late a flush.ms deadline can be noticed.
  Flusher(std::function<int64_t()> now_ms, int64_t tick_ms = 10);
  ~Flusher();

  void Add(const std::shared_ptr<PartitionLog>& log);
  // Wakes the thread now (a partition has waiters or crossed a threshold).
  void Request();
  // Stops the thread after a final pass. Idempotent.
  void Stop();
  // Observer of each sync's duration in microseconds (metrics); set before use.
  void SetSyncObserver(std::function<void(int64_t micros, const absl::Status&)> f);

 private:
  void Run();

  std::function<int64_t()> now_ms_;
  const int64_t tick_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;
  bool stop_ = false;
  std::vector<std::weak_ptr<PartitionLog>> logs_;
  std::function<void(int64_t, const absl::Status&)> observer_;
  std::thread thread_;
};

}  // namespace sluice::storage
