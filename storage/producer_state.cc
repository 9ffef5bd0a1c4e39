#include "storage/producer_state.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "storage/errors.h"
#include "storage/index_format.h"

namespace sluice::storage {
namespace {

using namespace index_format;

constexpr uint8_t kSnapshotFormat = 1;
constexpr size_t kSnapshotHeaderSize = 1 + 8 + 4;
constexpr size_t kProducerHeaderSize = 8 + 2 + 8 + 1;
constexpr size_t kBatchSize = 4 + 4 + 8 + 8 + 8;

// Kafka's ProducerStateManager.inSequence: the next batch starts right after the last one, and
// the sequence wraps from INT32_MAX to 0.
bool InSequence(int32_t last_seq, int32_t next_seq) {
  return int64_t{next_seq} == int64_t{last_seq} + 1 ||
         (next_seq == 0 && last_seq == std::numeric_limits<int32_t>::max());
}

absl::Status BadSnapshot(std::string_view why) {
  return StorageError(StorageErrc::kIoError,
                      absl::StrCat("malformed producer state snapshot: ",
                                   absl::string_view(why.data(), why.size())));
}

}  // namespace

int32_t ProducerStateTable::LastSequence(int32_t first, int32_t last_offset_delta) {
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  if (first > kMax - last_offset_delta) return last_offset_delta - (kMax - first) - 1;
  return first + last_offset_delta;
}

absl::StatusOr<std::optional<ProducerBatch>> ProducerStateTable::Check(
    const RecordBatchView& batch) const {
  const int64_t pid = batch.producer_id();
  const int16_t epoch = batch.producer_epoch();
  const int32_t first = batch.base_sequence();
  if (epoch < 0 || first < 0) {
    return StorageError(StorageErrc::kCorruptBatch,
                        absl::StrCat("batch of producer ", pid, " has epoch ", epoch,
                                     " and base sequence ", first, "; both must be >= 0"));
  }
  auto it = producers_.find(pid);
  if (it == producers_.end()) return std::optional<ProducerBatch>();
  const ProducerEntry& e = it->second;
  const int32_t last = LastSequence(first, batch.last_offset_delta());
  // A duplicate is answered before the sequence checks, as Kafka's UnifiedLog does.
  if (epoch == e.epoch) {
    for (const ProducerBatch& b : e.batches) {
      if (b.first_seq == first && b.last_seq == last) return std::optional<ProducerBatch>(b);
    }
  }
  if (epoch < e.epoch) {
    return StorageError(StorageErrc::kInvalidProducerEpoch,
                        absl::StrCat("producer ", pid, " epoch ", epoch,
                                     " is older than the current epoch ", e.epoch));
  }
  if (epoch > e.epoch) {
    if (first != 0) {
      return StorageError(StorageErrc::kOutOfOrderSequence,
                          absl::StrCat("producer ", pid, " new epoch ", epoch,
                                       " must start at sequence 0, got ", first));
    }
    return std::optional<ProducerBatch>();
  }
  if (!e.batches.empty() && !InSequence(e.batches.back().last_seq, first)) {
    return StorageError(StorageErrc::kOutOfOrderSequence,
                        absl::StrCat("producer ", pid, " epoch ", epoch, ": expected sequence ",
                                     LastSequence(e.batches.back().last_seq, 1), ", got ", first));
  }
  return std::optional<ProducerBatch>();
}

void ProducerStateTable::Record(const RecordBatchView& batch, Offset base_offset, int64_t now_ms) {
  const int16_t epoch = batch.producer_epoch();
  auto [it, added] = producers_.try_emplace(batch.producer_id());
  ProducerEntry& e = it->second;
  if (added || epoch > e.epoch) {
    e.epoch = epoch;
    e.batches.clear();
  } else if (epoch < e.epoch) {
    return;  // only recovery replays without Check(); a fenced batch never changes the state
  } else if (!e.batches.empty() && base_offset <= e.batches.back().base_offset) {
    return;  // already recorded (a replay that overlaps the snapshot)
  }
  const int32_t first = batch.base_sequence();
  e.batches.push_back(ProducerBatch{first, LastSequence(first, batch.last_offset_delta()),
                                    base_offset, base_offset + batch.last_offset_delta(),
                                    batch.max_timestamp()});
  while (e.batches.size() > kMaxCachedBatches) e.batches.pop_front();
  e.last_append_ms = now_ms;
  ++version_;
}

void ProducerStateTable::TruncateTo(Offset end) {
  for (auto it = producers_.begin(); it != producers_.end();) {
    auto& batches = it->second.batches;
    bool changed = false;
    while (!batches.empty() && batches.back().base_offset >= end) {
      batches.pop_back();
      changed = true;
    }
    if (changed) ++version_;
    it = batches.empty() ? producers_.erase(it) : std::next(it);
  }
}

size_t ProducerStateTable::ExpireIdle(int64_t now_ms, int64_t expiration_ms) {
  size_t removed = std::erase_if(producers_, [&](const auto& p) {
    return now_ms - p.second.last_append_ms >= expiration_ms;
  });
  if (removed > 0) ++version_;
  return removed;
}

const ProducerEntry* ProducerStateTable::Find(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? nullptr : &it->second;
}

std::string ProducerStateTable::Encode(Offset as_of) const {
  std::string out;
  out.push_back(static_cast<char>(kSnapshotFormat));
  PutU64(&out, static_cast<uint64_t>(as_of.value()));
  PutU32(&out, static_cast<uint32_t>(producers_.size()));
  for (const auto& [pid, e] : producers_) {
    PutU64(&out, static_cast<uint64_t>(pid));
    out.push_back(static_cast<char>(static_cast<uint16_t>(e.epoch) >> 8));
    out.push_back(static_cast<char>(static_cast<uint16_t>(e.epoch) & 0xff));
    PutU64(&out, static_cast<uint64_t>(e.last_append_ms));
    out.push_back(static_cast<char>(e.batches.size()));
    for (const ProducerBatch& b : e.batches) {
      PutU32(&out, static_cast<uint32_t>(b.first_seq));
      PutU32(&out, static_cast<uint32_t>(b.last_seq));
      PutU64(&out, static_cast<uint64_t>(b.base_offset.value()));
      PutU64(&out, static_cast<uint64_t>(b.last_offset.value()));
      PutU64(&out, static_cast<uint64_t>(b.max_timestamp));
    }
  }
  return out;
}

absl::StatusOr<ProducerStateTable::Snapshot> ProducerStateTable::Decode(std::string_view bytes) {
  if (bytes.size() < kSnapshotHeaderSize) return BadSnapshot("short header");
  if (static_cast<uint8_t>(bytes[0]) != kSnapshotFormat) {
    return BadSnapshot(absl::StrCat("unknown format ", static_cast<int>(bytes[0])));
  }
  Snapshot s;
  const char* p = bytes.data();
  s.as_of = Offset(static_cast<int64_t>(GetU64(p + 1)));
  uint32_t count = GetU32(p + 9);
  size_t at = kSnapshotHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    if (bytes.size() - at < kProducerHeaderSize) return BadSnapshot("truncated producer");
    int64_t pid = static_cast<int64_t>(GetU64(p + at));
    ProducerEntry e;
    e.epoch = static_cast<int16_t>((static_cast<uint8_t>(p[at + 8]) << 8) |
                                   static_cast<uint8_t>(p[at + 9]));
    e.last_append_ms = static_cast<int64_t>(GetU64(p + at + 10));
    size_t n = static_cast<uint8_t>(p[at + 18]);
    at += kProducerHeaderSize;
    if (n == 0 || n > kMaxCachedBatches || bytes.size() - at < n * kBatchSize) {
      return BadSnapshot(absl::StrCat("producer ", pid, " with ", n, " batches"));
    }
    for (size_t j = 0; j < n; ++j, at += kBatchSize) {
      e.batches.push_back(ProducerBatch{static_cast<int32_t>(GetU32(p + at)),
                                        static_cast<int32_t>(GetU32(p + at + 4)),
                                        Offset(static_cast<int64_t>(GetU64(p + at + 8))),
                                        Offset(static_cast<int64_t>(GetU64(p + at + 16))),
                                        static_cast<int64_t>(GetU64(p + at + 24))});
    }
    if (!s.table.producers_.emplace(pid, std::move(e)).second) {
      return BadSnapshot(absl::StrCat("producer ", pid, " listed twice"));
    }
  }
  if (at != bytes.size()) return BadSnapshot("trailing bytes");
  return s;
}

}  // namespace sluice::storage
