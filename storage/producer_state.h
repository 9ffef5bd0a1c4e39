#pragma once
// ProducerStateTable: one partition's idempotent-producer state, as Kafka's
// ProducerStateManager keeps it. Per producer id: the current epoch and the last
// kMaxCachedBatches batches appended with that epoch. Append() asks Check() whether a batch is a
// duplicate, out of sequence or fenced, and calls Record() once the batch is in the log.
//
// Not thread-safe: PartitionLog owns one and touches it only under its append mutex, so the check
// and the append are one atomic step. Persisted as a snapshot written with the partition's
// checkpoint (docs/storage.md, "Idempotent producers"); Encode/Decode are that snapshot's codec.
//
// Example:
//   ProducerStateTable t;
//   ASSIGN_OR_RETURN(std::optional<ProducerBatch> dup, t.Check(view));
//   if (dup) return dup->base_offset;          // already appended: answer with its offsets
//   ... append, assigning `base` ...
//   t.Record(view, base, now_ms);

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/record_batch.h"
#include "storage/types.h"

namespace sluice::storage {

// One appended batch of an idempotent producer.
struct ProducerBatch {
  int32_t first_seq = 0;
  int32_t last_seq = 0;
  Offset base_offset{0};
  Offset last_offset{0};
  int64_t max_timestamp = -1;
  bool operator==(const ProducerBatch&) const = default;
};

struct ProducerEntry {
  int16_t epoch = 0;
  // Oldest first, at most kMaxCachedBatches, all of `epoch`.
  std::deque<ProducerBatch> batches;
  // Wall-clock time of the producer's last append (or of its replay by recovery); expiry is
  // measured from it.
  int64_t last_append_ms = 0;
};

class ProducerStateTable {
 public:
  // Kafka's broker remembers the last 5 batches per producer (the client's
  // max.in.flight.requests.per.connection limit for idempotence).
  static constexpr size_t kMaxCachedBatches = 5;
  // Kafka's producer.id.expiration.ms default: 1 day.
  static constexpr int64_t kDefaultExpirationMs = 24LL * 3600 * 1000;

  // Sequence number of the last record of a batch starting at `first` with `last_offset_delta`,
  // wrapping from INT32_MAX to 0 as Kafka's DefaultRecordBatch.incrementSequence.
  static int32_t LastSequence(int32_t first, int32_t last_offset_delta);

  // Checks a batch with producer_id() >= 0 against its producer's state. Returns the original
  // batch if it duplicates one of the cached batches of the same epoch (do not append it),
  // nullopt if it may be appended, or an error:
  //   kInvalidProducerEpoch  its epoch is older than the producer's (a fenced zombie);
  //   kOutOfOrderSequence    a newer epoch not starting at sequence 0, or a first sequence that
  //                          is not the last one + 1;
  //   kCorruptBatch          a negative epoch or base sequence.
  // A producer without state (new, expired, or one whose state was lost with truncated batches)
  // may start at any sequence, as Kafka's ProducerAppendInfo.checkSequence allows.
  absl::StatusOr<std::optional<ProducerBatch>> Check(const RecordBatchView& batch) const;

  // Records a batch appended at `base_offset`. Used after Check() passed, and by recovery to
  // replay the log without checks: a newer epoch resets the producer, an older one is ignored,
  // and a batch at or below the producer's last recorded offset is ignored (so replaying a batch
  // twice is harmless).
  void Record(const RecordBatchView& batch, Offset base_offset, int64_t now_ms);

  // Forgets every cached batch with base offset >= `end`; a producer left with none is removed
  // entirely (its earlier batches are no longer known, so it may start at any sequence).
  void TruncateTo(Offset end);
  // Removes producers whose last append is at least `expiration_ms` before `now_ms`. Returns how
  // many were removed.
  size_t ExpireIdle(int64_t now_ms, int64_t expiration_ms);

  const ProducerEntry* Find(int64_t producer_id) const;
  size_t size() const { return producers_.size(); }
  // Changes on every modification; PartitionLog uses it to skip unchanged snapshots.
  uint64_t version() const { return version_; }

  // Snapshot codec. `as_of` is the offset the state is complete up to (the checkpoint's next
  // offset); it is stored for diagnostics. Layout in storage/index_format.h.
  std::string Encode(Offset as_of) const;
  struct Snapshot;
  static absl::StatusOr<Snapshot> Decode(std::string_view bytes);

 private:
  std::map<int64_t, ProducerEntry> producers_;
  uint64_t version_ = 0;
};

struct ProducerStateTable::Snapshot {
  Offset as_of{0};
  ProducerStateTable table;
};

}  // namespace sluice::storage
