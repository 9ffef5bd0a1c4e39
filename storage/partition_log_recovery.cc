// PartitionLog::Recover: opening a partition after a clean or unclean shutdown.
// The algorithm is described in docs/storage.md ("Recovery").

#include <filesystem>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"
#include "storage/errors.h"
#include "storage/partition_log.h"
#include "storage/status_macros.h"

namespace sluice::storage {
namespace {

// Reads a segment front to back in large chunks, handing out one batch at a time.
class SegmentScanner {
 public:
  SegmentScanner(const Segment& seg, uint64_t position) : seg_(seg), pos_(position) {}

  uint64_t position() const { return pos_; }

  // The next whole batch, or nullopt at a clean end of file; an error describes a torn or
  // corrupt batch at position().
  absl::StatusOr<std::optional<RecordBatchView>> Next() {
    uint64_t size = seg_.size();
    if (pos_ == size) return std::optional<RecordBatchView>();
    if (size - pos_ < kLogOverhead) return Corrupt("torn batch length prefix");
    ASSIGN_OR_RETURN(Bytes prefix, Fill(kLogOverhead));
    absl::StatusOr<size_t> batch_size = PeekBatchSize(prefix);
    if (!batch_size.ok()) return batch_size.status();
    if (*batch_size > size - pos_) {
      return Corrupt(absl::StrCat("torn batch: ", *batch_size, " bytes declared, ", size - pos_,
                                  " left in the file"));
    }
    ASSIGN_OR_RETURN(Bytes bytes, Fill(*batch_size));
    ASSIGN_OR_RETURN(RecordBatchView view, RecordBatchView::Parse(bytes));
    RETURN_IF_ERROR(view.VerifyCrc());
    buf_pos_ += *batch_size;
    pos_ += *batch_size;
    return std::optional<RecordBatchView>(view);
  }

 private:
  static absl::Status Corrupt(std::string msg) {
    return StorageError(StorageErrc::kCorruptBatch, msg);
  }

  // Makes `n` bytes from pos_ available in buf_ and returns them (valid until the next Fill).
  absl::StatusOr<Bytes> Fill(size_t n) {
    if (buf_len_ - buf_pos_ < n) {
      std::memmove(buf_.data(), buf_.data() + buf_pos_, buf_len_ - buf_pos_);
      buf_len_ -= buf_pos_;
      buf_pos_ = 0;
      size_t want = std::max<size_t>(n, kChunk);
      if (buf_.size() < want) buf_.resize(want);
      std::span<uint8_t> dst(buf_.data() + buf_len_, buf_.size() - buf_len_);
      ASSIGN_OR_RETURN(size_t got, seg_.Read(pos_ + buf_len_, dst));
      buf_len_ += got;
      if (buf_len_ < n) return Corrupt("short read");
    }
    return Bytes(buf_.data() + buf_pos_, n);
  }

  static constexpr size_t kChunk = 4 << 20;
  const Segment& seg_;
  uint64_t pos_;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(kChunk);
  size_t buf_pos_ = 0;  // buf_[buf_pos_] is the byte at pos_
  size_t buf_len_ = 0;
};

}  // namespace

absl::Status PartitionLog::Recover() {
  namespace fs = std::filesystem;
  const std::string& dir = options_.dir;
  MetaStore* meta = options_.meta;
  const PartitionKey& pk = options_.key;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoError(ec.value(), absl::StrCat("create ", dir));

  std::vector<Offset> bases;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto base = Segment::ParseFileName(entry.path().filename().string());
    if (base) {
      bases.push_back(*base);
    } else {
      spdlog::warn("{}: ignoring unexpected file {}", dir, entry.path().filename().string());
    }
  }
  if (ec) return ErrnoError(ec.value(), absl::StrCat("list ", dir));
  std::sort(bases.begin(), bases.end());

  ASSIGN_OR_RETURN(std::optional<Offset> stored_start, meta->GetLogStartOffset(pk));
  log_start_ = stored_start.value_or(options_.initial_offset);
  // Segments wholly below the log start are leftovers of an interrupted deletion.
  while (bases.size() > 1 && bases[1] <= log_start_) {
    std::string path = absl::StrCat(dir, "/", Segment::FileName(bases.front()));
    spdlog::info("{}: removing segment below log start {}", path, log_start_.value());
    fs::remove(path, ec);
    meta->DeleteSegmentSummary(pk, bases.front()).IgnoreError();
    bases.erase(bases.begin());
  }

  RETURN_IF_ERROR(LoadProducerSnapshot());
  int64_t now = Now();
  if (bases.empty()) {
    // A new partition (or one whose files are gone): start empty at the log start.
    RETURN_IF_ERROR(meta->DeleteBatchesFrom(pk, Offset(0)));
    ASSIGN_OR_RETURN(auto seg, Segment::Create(options_.files, dir, log_start_, now));
    segments_.emplace(log_start_, std::move(seg));
    log_end_ = high_watermark_ = durable_ = log_start_;
    producers_.TruncateTo(log_end_);
    dir_dirty_ = true;
    return Flush();
  }
  for (Offset b : bases) {
    ASSIGN_OR_RETURN(auto seg, Segment::Open(options_.files, dir, b, now));
    segments_.emplace(b, std::move(seg));
  }
  log_start_ = std::max(log_start_, bases.front());
  RETURN_IF_ERROR(meta->DeleteBatchesBefore(pk, bases.front()));

  // Where to start scanning: the checkpoint is a point known durable; the last index entry is
  // the end of what the (WAL-less) index kept. Scan from the earlier of the two, so that an
  // index tail lost with RocksDB's memtable is rebuilt and an index tail that outlived its
  // (never synced) data is re-verified. Batches before the start are trusted.
  auto valid_point = [&](Offset seg_base, uint64_t pos) {
    auto it = segments_.find(seg_base);
    return it != segments_.end() && pos <= it->second->size();
  };
  Offset first = segments_.begin()->first;
  struct Point {
    Offset segment;
    uint64_t position;
    Offset next;
  };
  Point start{first, 0, first};
  ASSIGN_OR_RETURN(std::optional<Checkpoint> cp, meta->GetCheckpoint(pk));
  ASSIGN_OR_RETURN(std::optional<BatchIndexEntry> last, meta->LastBatch(pk));
  std::optional<Point> cp_point, idx_point;
  if (cp && valid_point(cp->segment_base, cp->position) && cp->next_offset >= cp->segment_base) {
    cp_point = Point{cp->segment_base, cp->position, cp->next_offset};
  }
  if (last && valid_point(last->segment_base, last->position + last->size)) {
    // Verify the indexed batch really is there.
    const Segment& seg = *segments_.at(last->segment_base);
    std::vector<uint8_t> buf(last->size);
    auto n = seg.Read(last->position, buf);
    if (n.ok() && *n == buf.size()) {
      auto view = RecordBatchView::Parse(buf);
      if (view.ok() && view->base_offset() == last->base_offset && view->VerifyCrc().ok()) {
        idx_point = Point{last->segment_base, last->position + last->size, last->last_offset + 1};
      }
    }
  }
  // The index is a prefix of the log (RocksDB persists an unlogged column family in order), so
  // with no entries at all everything needs indexing; an unverifiable last entry means the index
  // outran the synced data, and the checkpoint is the latest point both agree on.
  if (idx_point) {
    start = (cp_point && cp_point->next < idx_point->next) ? *cp_point : *idx_point;
  } else if (last && cp_point) {
    start = *cp_point;
  }
  // Producer state: the snapshot holds every batch before the checkpoint; the scan replays the
  // batches it validates from there on. Only if the scan starts past the checkpoint (its segment
  // is gone) are the trusted batches in between replayed from the index.
  if (start.next > producer_replay_from_) {
    RETURN_IF_ERROR(ReplayProducersFromIndex(producer_replay_from_, start.next));
  }
  RETURN_IF_ERROR(ScanAndRepair(start.segment, start.position, start.next));
  // A cut below the checkpoint (damage to synced data) removes batches the snapshot knew.
  producers_.TruncateTo(log_end_);
  producers_.ExpireIdle(now, options_.producer_id_expiration_ms);

  // Closed segments need their max timestamp for time-based retention.
  for (auto& [base, seg] : segments_) {
    ASSIGN_OR_RETURN(std::optional<SegmentSummary> sum, meta->GetSegmentSummary(pk, base));
    if (sum && sum->size == seg->size()) {
      seg->ObserveTimestamp(sum->max_timestamp);
    } else {
      auto next = std::next(segments_.find(base));
      RETURN_IF_ERROR(ComputeSegmentMaxTimestamp(*seg, next == segments_.end() ? Offset::Max()
                                                                              : next->first));
    }
  }
  high_watermark_ = log_end_;
  log_start_ = std::min(log_start_, log_end_);
  if (high_watermark_ < log_start_) high_watermark_ = log_start_;
  ASSIGN_OR_RETURN(auto max_ts, meta->MaxIndexedTimestamp(pk));
  max_timestamp_ = max_ts.value_or(-1);
  // Whatever was scanned is in the files but perhaps not on disk: sync it before anything is
  // reported durable, and move the checkpoint to the end.
  durable_ = std::min(start.next, log_end_);
  dir_dirty_ = true;
  for (auto& [base, seg] : segments_) {
    RETURN_IF_ERROR(seg->Sync());
  }
  RETURN_IF_ERROR(Flush());
  if (recovery_.bytes_truncated > 0 || recovery_.segments_removed > 0) {
    spdlog::warn(
        "{}: recovery cut {} bytes and {} later segments after the last valid batch; log end {}",
        dir, recovery_.bytes_truncated, recovery_.segments_removed, log_end_.value());
  }
  return absl::OkStatus();
}

absl::Status PartitionLog::ScanAndRepair(Offset start_segment, uint64_t start_position,
                                         Offset next_offset) {
  MetaStore* meta = options_.meta;
  const PartitionKey& pk = options_.key;
  // Index entries past the start are unverified: drop them and rebuild from the bytes.
  RETURN_IF_ERROR(meta->DeleteBatchesFrom(pk, next_offset));
  ASSIGN_OR_RETURN(auto max_ts, meta->MaxIndexedTimestamp(pk));
  int64_t running_max = max_ts.value_or(-1);

  auto it = segments_.find(start_segment);
  uint64_t position = start_position;
  Offset expected = next_offset;
  absl::Status cut_reason;
  for (; it != segments_.end(); ++it) {
    Segment& seg = *it->second;
    if (seg.base_offset() < expected && position == 0 && it->first != start_segment) {
      cut_reason = StorageError(StorageErrc::kCorruptBatch,
                                absl::StrCat("segment base ", seg.base_offset().value(),
                                             " overlaps offsets up to ", expected.value()));
      break;
    }
    if (position == 0) expected = std::max(expected, seg.base_offset());
    SegmentScanner scanner(seg, position);
    // Where to cut when a whole, checksummed batch is rejected: its start (the scanner is past
    // it already). Torn or corrupt bytes are cut at the scanner's position.
    std::optional<uint64_t> rejected_at;
    for (;;) {
      auto next = scanner.Next();
      if (!next.ok()) {
        cut_reason = next.status();
        break;
      }
      if (!next->has_value()) break;
      const RecordBatchView& v = **next;
      const uint64_t pos = scanner.position() - v.size_bytes();
      if (v.base_offset() < expected || v.last_offset_delta() < 0) {
        rejected_at = pos;
        cut_reason = StorageError(StorageErrc::kCorruptBatch,
                                  absl::StrCat("batch base offset ", v.base_offset().value(),
                                               " does not follow ", expected.value()));
        break;
      }
      // The offset after the batch (last offset + 1) must be representable: a base offset near
      // the top of the offset space is damage, not data (found by tests/fuzz recovery_fuzz).
      if (v.base_offset().value() >=
          std::numeric_limits<int64_t>::max() - int64_t{v.last_offset_delta()}) {
        rejected_at = pos;
        cut_reason = StorageError(StorageErrc::kCorruptBatch,
                                  absl::StrCat("batch base offset ", v.base_offset().value(),
                                               " with lastOffsetDelta ", v.last_offset_delta(),
                                               " overflows the offset space"));
        break;
      }
      bool raises = v.max_timestamp() > running_max;
      RETURN_IF_ERROR(meta->PutBatch(pk,
                                     BatchIndexEntry{v.base_offset(), v.last_offset(),
                                                     seg.base_offset(), pos,
                                                     static_cast<uint32_t>(v.size_bytes()),
                                                     v.max_timestamp()},
                                     raises));
      if (raises) running_max = v.max_timestamp();
      if (v.producer_id() >= 0 && v.base_offset() >= producer_replay_from_) {
        producers_.Record(v, v.base_offset(), Now());
      }
      seg.ObserveTimestamp(v.max_timestamp());
      expected = v.last_offset() + 1;
      ++recovery_.batches_scanned;
      ++recovery_.index_entries_rebuilt;
      recovery_.bytes_scanned += v.size_bytes();
    }
    position = rejected_at.value_or(scanner.position());
    if (!cut_reason.ok()) break;
    position = 0;
  }

  if (!cut_reason.ok()) {
    // Cut at the first bad byte: the rest of this segment and every later segment.
    Segment& seg = *it->second;
    spdlog::warn("{}: {} at {}:{}; truncating the log there", options_.dir,
                 cut_reason.message(), Segment::FileName(seg.base_offset()), position);
    recovery_.bytes_truncated += seg.size() - position;
    RETURN_IF_ERROR(seg.TruncateTo(position));
    options_.meta->DeleteSegmentSummary(pk, seg.base_offset()).IgnoreError();
    auto later = std::next(it);
    while (later != segments_.end()) {
      recovery_.bytes_truncated += later->second->size();
      ++recovery_.segments_removed;
      std::error_code ec;
      std::filesystem::remove(later->second->path(), ec);
      if (ec) return ErrnoError(ec.value(), absl::StrCat("remove ", later->second->path()));
      options_.meta->DeleteSegmentSummary(pk, later->first).IgnoreError();
      later = segments_.erase(later);
    }
    // A segment cut to nothing is removed too, unless it is the only one: the next append then
    // goes to the previous segment, whose base is <= the log end.
    if (seg.size() == 0 && it != segments_.begin()) {
      std::error_code ec;
      std::filesystem::remove(seg.path(), ec);
      if (ec) return ErrnoError(ec.value(), absl::StrCat("remove ", seg.path()));
      ++recovery_.segments_removed;
      segments_.erase(it);
    }
  }
  log_end_ = std::max(expected, active()->base_offset());
  return absl::OkStatus();
}

absl::Status PartitionLog::LoadProducerSnapshot() {
  ASSIGN_OR_RETURN(std::optional<Checkpoint> cp, options_.meta->GetCheckpoint(options_.key));
  ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                   options_.meta->GetProducerSnapshot(options_.key));
  // Without a checkpoint there is no point the snapshot is known to describe: rebuild from the
  // whole log.
  producer_replay_from_ = cp ? cp->next_offset : Offset(0);
  if (!bytes) return absl::OkStatus();
  // An unusable snapshot is replaced at the next checkpoint: no version matches this one.
  persisted_producer_version_ = std::numeric_limits<uint64_t>::max();
  if (!cp) return absl::OkStatus();
  auto snap = ProducerStateTable::Decode(*bytes);
  if (!snap.ok()) {
    // Losing the state only widens what producers may send next (any sequence); it must not keep
    // the partition from opening.
    spdlog::warn("{}: {}; starting with no producer state", options_.dir,
                 snap.status().message());
    return absl::OkStatus();
  }
  producers_ = std::move(snap->table);
  persisted_producer_version_ = producers_.version();
  spdlog::debug("{}: loaded {} producers (snapshot as of offset {}, checkpoint {})",
                options_.dir, producers_.size(), snap->as_of.value(), cp->next_offset.value());
  return absl::OkStatus();
}

absl::Status PartitionLog::ReplayProducersFromIndex(Offset from, Offset to) {
  std::vector<uint8_t> buf;
  absl::Status read_error;
  RETURN_IF_ERROR(options_.meta->ScanBatches(options_.key, from, [&](const BatchIndexEntry& e) {
    if (e.base_offset >= to) return false;
    auto seg = segments_.find(e.segment_base);
    if (e.base_offset < from || seg == segments_.end()) return true;
    buf.resize(e.size);
    auto n = seg->second->Read(e.position, buf);
    if (!n.ok()) {
      read_error = n.status();
      return false;
    }
    auto view = RecordBatchView::Parse(std::span<const uint8_t>(buf.data(), *n));
    if (!view.ok() || view->base_offset() != e.base_offset || view->last_offset_delta() < 0) {
      // Recovery trusts batches before the scan start, and so do reads; only this batch's
      // producer state is lost.
      spdlog::warn("{}: indexed batch at offset {} does not read back; its producer state is lost",
                   options_.dir, e.base_offset.value());
      return true;
    }
    if (view->producer_id() >= 0) producers_.Record(*view, e.base_offset, Now());
    return true;
  }));
  return read_error;
}

absl::Status PartitionLog::ComputeSegmentMaxTimestamp(Segment& seg, Offset end) {
  int64_t max_ts = -1;
  RETURN_IF_ERROR(options_.meta->ScanBatches(options_.key, seg.base_offset(),
                                             [&](const BatchIndexEntry& e) {
                                               if (e.base_offset >= end) return false;
                                               max_ts = std::max(max_ts, e.max_timestamp);
                                               return true;
                                             }));
  seg.ObserveTimestamp(max_ts);
  return absl::OkStatus();
}

}  // namespace sluice::storage
