#pragma once
// ProducerIdAllocator: hands out idempotent-producer ids (Kafka's InitProducerId) that are unique
// for the life of a data dir, across clean restarts and crashes.
//
// Ids come from blocks reserved in the MetaStore with one synced write each
// (MetaStore::ReserveProducerIds), so only one call in `block_size` touches the disk. The durable
// high-water mark is the end of the last reserved block, so after a restart or a crash the next
// block starts past every id handed out before; the unused rest of a block is skipped, as Kafka's
// producer id blocks are.
//
// Thread-safe: any thread may call Allocate(). The MetaStore must outlive the allocator.
//
// Example:
//   ProducerIdAllocator ids(meta);
//   ASSIGN_OR_RETURN(int64_t producer_id, ids.Allocate());

#include <cstdint>
#include <mutex>

#include "absl/status/statusor.h"
#include "storage/meta_store.h"

namespace sluice::storage {

class ProducerIdAllocator {
 public:
  static constexpr int64_t kDefaultBlockSize = 1000;  // Kafka's producer id block size

  explicit ProducerIdAllocator(MetaStore* meta, int64_t block_size = kDefaultBlockSize)
      : meta_(meta), block_size_(block_size) {}

  // A producer id (>= 0) never returned before from this data dir.
  absl::StatusOr<int64_t> Allocate();

 private:
  MetaStore* meta_;
  const int64_t block_size_;
  std::mutex mu_;
  int64_t next_ = 0;  // Invariant: next_ <= end_; [next_, end_) is reserved and unused.
  int64_t end_ = 0;
};

}  // namespace sluice::storage
