#pragma once
// MetaStore: the one RocksDB of a data dir (data/meta/) holding the offset and time indexes, the
// per-partition recovery checkpoints, producer state snapshots and log start offsets,
// closed-segment summaries, topic records, committed group offsets and the producer id
// high-water mark (layouts in storage/index_format.h).
//
// Thread-safe (RocksDB is); owned by LogManager and shared by its PartitionLogs. Index writes skip
// the WAL (segments are the truth); metadata writes use it, and topic records are synced.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/storage_meta.pb.h"
#include "storage/group_offset_store.h"
#include "storage/types.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Iterator;
class WriteBatch;
}  // namespace rocksdb

namespace sluice::storage {

struct PartitionKey {
  uint32_t topic_id = 0;
  PartitionId partition{0};
  std::string Encode() const;
};

// Where one batch lives. `last_offset` is base + lastOffsetDelta.
struct BatchIndexEntry {
  Offset base_offset{0};
  Offset last_offset{0};
  Offset segment_base{0};
  uint64_t position = 0;
  uint32_t size = 0;
  int64_t max_timestamp = -1;
};

// A point up to which the partition's bytes are known durable (fsynced).
struct Checkpoint {
  Offset segment_base{0};
  uint64_t position = 0;
  Offset next_offset{0};
};

// Facts about a closed segment kept so open need not rescan it.
struct SegmentSummary {
  uint64_t size = 0;
  int64_t max_timestamp = -1;
};

class MetaStore final : public GroupOffsetStore {
 public:
  struct Options {
    // Block cache of the offset and time indexes (an upper bound; used as blocks are read).
    size_t index_cache_bytes = size_t{1} << 30;
  };
  static absl::StatusOr<std::unique_ptr<MetaStore>> Open(const std::string& dir,
                                                         const Options& options);
  static absl::StatusOr<std::unique_ptr<MetaStore>> Open(const std::string& dir) {
    return Open(dir, Options{});
  }
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // Flushes the unlogged index memtables to SST files (so a clean restart needs no rebuild) and
  // closes the database. Idempotent.
  absl::Status Close();
  // Flushes the index memtables to SST files now (Close does it too).
  absl::Status FlushIndex();

  // ---- offset and time index (no WAL) ----
  // Records a batch; when `raises_max_timestamp`, also a time index entry.
  absl::Status PutBatch(const PartitionKey& pk, const BatchIndexEntry& e, bool raises_max_timestamp);
  // The batch containing `offset`, or failing that the first batch after it; nullopt if none.
  absl::StatusOr<std::optional<BatchIndexEntry>> FindBatch(const PartitionKey& pk,
                                                           Offset offset) const;
  absl::StatusOr<std::optional<BatchIndexEntry>> LastBatch(const PartitionKey& pk) const;
  // Calls `fn` on each batch from the one FindBatch(from) returns, in offset order, until it
  // returns false.
  absl::Status ScanBatches(const PartitionKey& pk, Offset from,
                           const std::function<bool(const BatchIndexEntry&)>& fn) const;
  // Removes index entries of batches with base offset >= `from` (truncation).
  absl::Status DeleteBatchesFrom(const PartitionKey& pk, Offset from);
  // Removes index entries of batches with base offset < `before` (retention).
  absl::Status DeleteBatchesBefore(const PartitionKey& pk, Offset before);
  // Base offset of the first batch holding a record with timestamp >= ts.
  absl::StatusOr<std::optional<Offset>> FindOffsetForTimestamp(const PartitionKey& pk,
                                                               int64_t ts) const;
  // Largest timestamp the time index holds for the partition.
  absl::StatusOr<std::optional<int64_t>> MaxIndexedTimestamp(const PartitionKey& pk) const;

  // ---- per-partition metadata (WAL) ----
  // Writes the checkpoint and, when given, the producer state snapshot taken at the same point
  // (storage/producer_state.h), in one write batch so the two always agree.
  absl::Status PutCheckpoint(const PartitionKey& pk, const Checkpoint& c, bool sync,
                             std::optional<std::string_view> producer_snapshot = std::nullopt);
  absl::StatusOr<std::optional<Checkpoint>> GetCheckpoint(const PartitionKey& pk) const;
  // The last producer state snapshot PutCheckpoint wrote (opaque bytes), if any.
  absl::StatusOr<std::optional<std::string>> GetProducerSnapshot(const PartitionKey& pk) const;
  absl::Status PutLogStartOffset(const PartitionKey& pk, Offset o);  // synced
  absl::StatusOr<std::optional<Offset>> GetLogStartOffset(const PartitionKey& pk) const;
  absl::Status PutSegmentSummary(const PartitionKey& pk, Offset base, const SegmentSummary& s);
  absl::StatusOr<std::optional<SegmentSummary>> GetSegmentSummary(const PartitionKey& pk,
                                                                  Offset base) const;
  absl::Status DeleteSegmentSummary(const PartitionKey& pk, Offset base);
  // Removes everything kept for the partition in every column family.
  absl::Status DeletePartition(const PartitionKey& pk);

  // ---- topics (WAL, synced) ----
  absl::Status PutTopic(const meta::TopicRecord& t);
  absl::Status DeleteTopic(const std::string& name);
  absl::StatusOr<std::vector<meta::TopicRecord>> ListTopics() const;
  absl::StatusOr<uint32_t> AllocateTopicId();

  // ---- producer ids (WAL, synced) ----
  // Reserves `count` (> 0) producer ids never handed out before, even across crashes: moves the
  // durable high-water mark up by `count` with a synced write and returns the first id of the
  // block. Ids start at 0. Serialized internally; ProducerIdAllocator hands them out one by one.
  absl::StatusOr<int64_t> ReserveProducerIds(int64_t count);

  // ---- committed group offsets (WAL, synced) ----
  absl::Status PutGroupOffsets(const std::string& group,
                               const std::vector<CommittedOffset>& offsets) override;
  absl::StatusOr<std::vector<CommittedOffset>> GetGroupOffsets(
      const std::string& group) const override;
  absl::StatusOr<std::vector<std::string>> ListOffsetGroups() const override;
  absl::Status DeleteGroupOffsets(const std::string& group) override;
  absl::Status DeleteTopicOffsets(const std::string& topic) override;

 private:
  MetaStore();
  absl::Status Write(rocksdb::WriteBatch* b, bool wal, bool sync);
  absl::Status DeleteTimeEntries(const PartitionKey& pk, std::optional<Offset> from,
                                 std::optional<Offset> before);

  // Offset-index iterators are reused: building one (a merging iterator over the memtables and
  // every level) costs as much as the seek itself (bench/storage.sh, index lookup). A taken one
  // is Refresh()ed, so it sees every write made before it was taken. An idle one pins the
  // memtables and files of the version it last saw, so at most kMaxIdleIterators are kept, and
  // all are dropped (and those in use not kept) when a flush or compaction installs a new
  // version of the offset index (the event listener set up in Open).
  class PooledIterator {
   public:
    PooledIterator(const MetaStore* store, std::unique_ptr<rocksdb::Iterator> it, uint64_t epoch);
    PooledIterator(PooledIterator&&) = delete;
    ~PooledIterator();
    rocksdb::Iterator* operator->() const { return it_.get(); }

   private:
    const MetaStore* store_;
    std::unique_ptr<rocksdb::Iterator> it_;
    uint64_t epoch_;
  };
  static constexpr size_t kMaxIdleIterators = 4;
  PooledIterator TakeOffsetIterator() const;
  void ReturnOffsetIterator(std::unique_ptr<rocksdb::Iterator> it, uint64_t epoch) const;
  void DropIdleIterators() const;
  mutable std::mutex iter_mu_;
  mutable std::vector<std::unique_ptr<rocksdb::Iterator>> idle_offset_iters_;  // guarded by iter_mu_
  mutable std::atomic<uint64_t> version_epoch_{0};  // bumped by each new offset-index version

  std::mutex producer_ids_mu_;  // ReserveProducerIds' read-modify-write
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* offsets_ = nullptr;
  rocksdb::ColumnFamilyHandle* times_ = nullptr;
  rocksdb::ColumnFamilyHandle* partitions_ = nullptr;
  rocksdb::ColumnFamilyHandle* topics_ = nullptr;
  rocksdb::ColumnFamilyHandle* group_offsets_ = nullptr;
};

}  // namespace sluice::storage
