#pragma once
// DiskSpace: keeps appends from filling the data dir's file system. Every segment append reserves
// its bytes first; once the free space would drop below `min_free_bytes` the append fails with
// kDiskFull (Kafka's KAFKA_STORAGE_ERROR) before a byte is written. The reserve left is what the
// metadata store (RocksDB: topic records, checkpoints, committed offsets) needs to keep working,
// so a topic deletion or retention can free space on a "full" disk and produce recovers without
// a restart. The same idea as Redpanda's storage_min_free_bytes; Kafka has none.
//
// The free space is an estimate: the last statvfs() minus the bytes reserved since. It is read
// again when the estimate would cross the minimum (so an append never trusts a stale "enough"),
// after every min_free_bytes / 4 reserved or 100 ms (others, RocksDB among them, use the same
// disk), and by Refresh(), which the log manager calls every second (to notice space freed).
// Thread-safe.
//
// Example:
//   DiskSpace space("/var/lib/sluice", 256 << 20);
//   RETURN_IF_ERROR(space.Reserve(batch.size()));  // then write the batch

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/status.h"

namespace sluice::storage {

class DiskSpace {
 public:
  // `min_free_bytes` 0 disables the check (Reserve always succeeds).
  DiskSpace(std::string path, int64_t min_free_bytes);

  // OK if `bytes` more can be written with at least min_free_bytes left; else kDiskFull.
  absl::Status Reserve(uint64_t bytes);
  // Reads the free space now (statvfs).
  void Refresh();

  int64_t free_bytes() const { return free_.load(std::memory_order_relaxed); }
  int64_t min_free_bytes() const { return min_free_; }

 private:
  const std::string path_;
  const int64_t min_free_;
  std::atomic<int64_t> free_{INT64_MAX / 2};
  std::atomic<int64_t> reserved_since_refresh_{0};
  std::atomic<int64_t> refreshed_ns_{0};  // steady clock
  std::mutex refresh_mu_;
};

}  // namespace sluice::storage
