#pragma once
// PartitionLog: one partition's ordered set of segments plus its index entries. Append, read,
// roll, retention, truncation, durability tracking and crash recovery.
//
// Lifecycle: Open() recovers the partition (see docs/storage.md, "Recovery") and leaves it ready;
// Close() syncs it and records a clean checkpoint. Owned by LogManager through a shared_ptr.
// Thread-safety: every method may be called from any thread. Appends and structural changes
// (roll, truncate, retention) are serialized by an internal mutex held only for in-memory work
// and the append's write(2); fdatasync never runs under it. Reads take the mutex only to
// snapshot state, and the byte ranges they return keep their segments alive.

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/disk_space.h"
#include "storage/file.h"
#include "storage/log_config.h"
#include "storage/meta_store.h"
#include "storage/producer_state.h"
#include "storage/record_batch.h"
#include "storage/segment.h"
#include "storage/types.h"

namespace sluice::storage {

struct AppendResult {
  Offset base_offset{0};
  Offset last_offset{0};
  // The flush policy wants this append synced before it is acknowledged (flush.messages = 1).
  bool sync_before_ack = false;
  // An idempotent producer's retry of a batch already in the log: nothing was appended, and the
  // offsets are those of the original batch (answer the producer with success and them).
  bool duplicate = false;
};

// A byte range of one segment, suitable for sendfile(2) from segment->fd(). Holds the segment
// open even if retention deletes it meanwhile.
struct FileSlice {
  std::shared_ptr<Segment> segment;
  uint64_t position = 0;
  uint64_t size = 0;
};

struct ReadResult {
  std::vector<FileSlice> slices;  // whole batches, in offset order
  uint64_t total_bytes = 0;
  Offset next_offset{0};          // offset after the last batch returned (= from if none)
  Offset high_watermark{0};
  Offset log_start_offset{0};
  // Copies the slices' bytes into one buffer (tests, the native client path, tools).
  absl::StatusOr<std::string> ReadAll() const;
};

struct TimestampLookup {
  Offset offset{0};
  int64_t timestamp = -1;
};

struct RecoveryReport {
  uint64_t batches_scanned = 0;
  uint64_t bytes_scanned = 0;
  uint64_t bytes_truncated = 0;      // torn or corrupt tail cut from the log
  uint64_t segments_removed = 0;     // whole segments after the cut point
  uint64_t index_entries_rebuilt = 0;
};

class PartitionLog {
 public:
  struct Options {
    std::string dir;                // <data>/<topic>-<partition>
    PartitionKey key;
    MetaStore* meta = nullptr;      // must outlive the log
    FileFactory* files = nullptr;   // defaults to POSIX
    LogConfig config;
    std::function<int64_t()> now_ms;  // defaults to the wall clock
    // Called (on the appending thread) when the log wants the flusher to sync it soon.
    std::function<void()> request_flush;
    // Single replica: the high watermark follows the log end offset. Replication (a later
    // issue) turns this off and drives SetHighWatermark().
    bool high_watermark_follows_log_end = true;
    // Offset of the first segment of a brand-new partition.
    Offset initial_offset{0};
    // Idempotent producers idle this long are forgotten (Kafka's producer.id.expiration.ms).
    int64_t producer_id_expiration_ms = ProducerStateTable::kDefaultExpirationMs;
    // Every append reserves its bytes here first (kDiskFull below the reserve); null: no check.
    DiskSpace* disk_space = nullptr;
  };

  static absl::StatusOr<std::shared_ptr<PartitionLog>> Open(Options options);
  ~PartitionLog();

  // Validates `batch` as a producer's RecordBatch v2 (ValidateForAppend, max.message.bytes),
  // assigns it the next offsets by patching baseOffset in place, writes it to the active segment
  // (rolling first when segment.bytes or segment.ms say so) and indexes it. On any error nothing
  // of the batch remains in the log.
  // A batch with producerId >= 0 is first checked against that producer's state, atomically with
  // the append (storage/producer_state.h): a duplicate of one of its last 5 batches returns the
  // original offsets with `duplicate` set and appends nothing; kOutOfOrderSequence and
  // kInvalidProducerEpoch reject it.
  absl::StatusOr<AppendResult> Append(std::span<uint8_t> batch);

  // Whole batches from the one containing `from`, up to `max_bytes` (at least one batch if
  // `min_one_batch`, as Kafka's KIP-74), never past `upto` (default: the high watermark).
  // OutOfRange (kOffsetOutOfRange) if `from` is below the log start or above the log end.
  absl::StatusOr<ReadResult> Read(Offset from, uint64_t max_bytes, bool min_one_batch = true,
                                  std::optional<Offset> upto = std::nullopt) const;

  // The first record with timestamp >= ts (exact within uncompressed batches, the batch's base
  // offset for compressed ones); nullopt if every record is older.
  absl::StatusOr<std::optional<TimestampLookup>> OffsetForTimestamp(int64_t ts) const;

  Offset log_start_offset() const;
  Offset log_end_offset() const;
  Offset high_watermark() const;
  // Every offset below this is on disk (fdatasync'd).
  Offset durable_offset() const;
  uint64_t size_bytes() const;
  size_t segment_count() const;
  // The error that fenced the log after a failed write or sync, or OK.
  absl::Status fenced() const;
  const RecoveryReport& recovery_report() const { return recovery_; }
  // The idempotent producer's state in this partition (a copy), if it has any.
  std::optional<ProducerEntry> producer_state(int64_t producer_id) const;
  size_t producer_count() const;
  const PartitionKey& key() const { return options_.key; }
  LogConfig config() const;
  void UpdateConfig(const LogConfig& c);

  // Replication hook: the high watermark, clamped to [log start, log end].
  void SetHighWatermark(Offset hw);

  // Closes the active segment and starts a new one at the log end (no-op if it is empty).
  absl::Status Roll();
  // Deletes whole closed segments beyond retention.bytes / retention.ms, and those wholly below
  // the log start offset, and forgets producers idle for producer_id_expiration_ms. Returns the
  // number of segments deleted.
  absl::StatusOr<int> ApplyRetention();
  // Removes every batch holding an offset >= `offset` (whole batches: the log end becomes the
  // base of the batch containing `offset`). Replication's follower truncation. Producer state
  // forgets the removed batches (ProducerStateTable::TruncateTo).
  absl::Status TruncateTo(Offset offset);
  // Moves the log start offset up to `offset` (<= high watermark), as Kafka's DeleteRecords;
  // whole segments below it are deleted.
  absl::Status DeleteRecordsBefore(Offset offset);

  // ---- durability ----
  // Calls `done` once every offset <= `last` is durable, or with the error that prevents it.
  // `done` runs on the thread that completes the sync (the flusher), or inline if already durable.
  void AwaitDurable(Offset last, absl::AnyInvocable<void(absl::Status)> done);
  // Syncs everything appended so far (group commit: one fdatasync per dirty segment covers all
  // waiters), records the checkpoint and completes waiters. A sync failure fences the log.
  absl::Status Flush();
  // True if the flush policy says the log is due for a background sync at `now_ms`.
  bool FlushDue(int64_t now_ms) const;
  bool HasUnflushed() const;

  // Syncs and writes a clean checkpoint. The log refuses appends afterwards.
  absl::Status Close();

 private:
  struct Waiter {
    Offset last;
    absl::AnyInvocable<void(absl::Status)> done;
  };

  explicit PartitionLog(Options options);
  absl::Status Recover();
  absl::Status ScanAndRepair(Offset start_segment, uint64_t start_position, Offset next_offset);
  absl::Status RollLocked();
  // Logs (rate-limited, under mu_) an I/O failure of Append and returns it.
  absl::Status LogAppendFailure(absl::Status s, int64_t now_ms);
  absl::Status DeleteOldestSegmentLocked(const char* reason);
  absl::Status ComputeSegmentMaxTimestamp(Segment& seg, Offset end);
  // Recovery: loads the producer snapshot and replays batches in [from, to) from the index.
  absl::Status LoadProducerSnapshot();
  absl::Status ReplayProducersFromIndex(Offset from, Offset to);
  // The producer snapshot to write with a checkpoint at `as_of`, or nullopt if the persisted one
  // is current; `*version` receives the version it encodes.
  std::optional<std::string> ProducerSnapshotLocked(Offset as_of, uint64_t* version) const;
  std::shared_ptr<Segment> active() const { return segments_.rbegin()->second; }
  int64_t Now() const { return options_.now_ms(); }
  void FailWaiters(const absl::Status& s);

  Options options_;
  RecoveryReport recovery_;

  // Serializes Flush/Close/TruncateTo/retention against each other; taken before mu_.
  std::mutex flush_mu_;
  mutable std::mutex mu_;
  std::map<Offset, std::shared_ptr<Segment>> segments_;  // by base offset
  Offset log_start_{0};
  Offset log_end_{0};
  Offset high_watermark_{0};
  Offset durable_{0};
  int64_t max_timestamp_ = -1;  // largest batch max timestamp, for time index entries
  uint64_t unflushed_messages_ = 0;
  uint64_t unflushed_bytes_ = 0;
  int64_t oldest_unflushed_ms_ = 0;
  int64_t last_append_failure_log_ms_ = INT64_MIN / 2;  // guarded by mu_
  uint64_t append_failures_unlogged_ = 0;
  bool dir_dirty_ = false;
  bool closed_ = false;
  absl::Status fenced_;
  std::deque<Waiter> waiters_;  // ordered by `last`

  ProducerStateTable producers_;
  // producers_.version() of the snapshot stored with the checkpoint. Invariant: the stored
  // snapshot is the state as of the stored checkpoint (it is rewritten with every checkpoint
  // written while the state differs from it).
  uint64_t persisted_producer_version_ = 0;
  // Recovery replays producer batches at or after this offset (the checkpoint's).
  Offset producer_replay_from_{0};
};

}  // namespace sluice::storage
