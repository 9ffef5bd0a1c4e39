#include "storage/partition_log.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"
#include "storage/errors.h"
#include "storage/status_macros.h"

namespace sluice::storage {

namespace {
int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

absl::StatusOr<std::string> ReadResult::ReadAll() const {
  std::string out(total_bytes, '\0');
  uint64_t at = 0;
  for (const auto& s : slices) {
    std::span<uint8_t> dst(reinterpret_cast<uint8_t*>(out.data()) + at, s.size);
    ASSIGN_OR_RETURN(size_t n, s.segment->Read(s.position, dst));
    if (n != s.size) {
      return StorageError(StorageErrc::kIoError,
                          absl::StrCat("short read of ", s.segment->path(), " at ", s.position));
    }
    at += n;
  }
  return out;
}

PartitionLog::PartitionLog(Options options) : options_(std::move(options)) {
  if (!options_.files) options_.files = FileFactory::Posix();
  if (!options_.now_ms) options_.now_ms = WallClockMs;
  if (!options_.request_flush) options_.request_flush = [] {};
}

PartitionLog::~PartitionLog() {
  // Waiters must always hear back.
  FailWaiters(StorageError(StorageErrc::kShuttingDown, "partition log closed"));
}

absl::StatusOr<std::shared_ptr<PartitionLog>> PartitionLog::Open(Options options) {
  std::shared_ptr<PartitionLog> log(new PartitionLog(std::move(options)));
  RETURN_IF_ERROR(log->Recover());
  return log;
}

Offset PartitionLog::log_start_offset() const {
  std::lock_guard l(mu_);
  return log_start_;
}
Offset PartitionLog::log_end_offset() const {
  std::lock_guard l(mu_);
  return log_end_;
}
Offset PartitionLog::high_watermark() const {
  std::lock_guard l(mu_);
  return high_watermark_;
}
Offset PartitionLog::durable_offset() const {
  std::lock_guard l(mu_);
  return durable_;
}
uint64_t PartitionLog::size_bytes() const {
  std::lock_guard l(mu_);
  uint64_t total = 0;
  for (const auto& [base, seg] : segments_) total += seg->size();
  return total;
}
size_t PartitionLog::segment_count() const {
  std::lock_guard l(mu_);
  return segments_.size();
}
absl::Status PartitionLog::fenced() const {
  std::lock_guard l(mu_);
  return fenced_;
}
LogConfig PartitionLog::config() const {
  std::lock_guard l(mu_);
  return options_.config;
}
void PartitionLog::UpdateConfig(const LogConfig& c) {
  std::lock_guard l(mu_);
  options_.config = c;
}

std::optional<ProducerEntry> PartitionLog::producer_state(int64_t producer_id) const {
  std::lock_guard l(mu_);
  const ProducerEntry* e = producers_.Find(producer_id);
  return e ? std::optional<ProducerEntry>(*e) : std::nullopt;
}
size_t PartitionLog::producer_count() const {
  std::lock_guard l(mu_);
  return producers_.size();
}

std::optional<std::string> PartitionLog::ProducerSnapshotLocked(Offset as_of,
                                                                uint64_t* version) const {
  *version = producers_.version();
  if (*version == persisted_producer_version_) return std::nullopt;
  return producers_.Encode(as_of);
}

void PartitionLog::SetHighWatermark(Offset hw) {
  std::lock_guard l(mu_);
  high_watermark_ = std::clamp(hw, log_start_, log_end_);
}

absl::StatusOr<AppendResult> PartitionLog::Append(std::span<uint8_t> batch) {
  // Validation (the CRC pass) runs before taking the lock.
  ASSIGN_OR_RETURN(RecordBatchView view, RecordBatchView::Parse(batch));
  if (view.size_bytes() != batch.size()) {
    return StorageError(StorageErrc::kCorruptBatch,
                        absl::StrCat("append expects exactly one batch: ", batch.size(),
                                     " bytes given, batch is ", view.size_bytes()));
  }
  RETURN_IF_ERROR(view.ValidateForAppend());

  std::unique_lock l(mu_);
  if (closed_) return StorageError(StorageErrc::kShuttingDown, "partition log closed");
  if (!fenced_.ok()) {
    return StorageError(StorageErrc::kFenced,
                        absl::StrCat("partition fenced after: ", fenced_.message()));
  }
  const LogConfig& cfg = options_.config;
  if (static_cast<int64_t>(batch.size()) > cfg.max_message_bytes) {
    return StorageError(StorageErrc::kBatchTooLarge,
                        absl::StrCat("batch of ", batch.size(), " bytes exceeds max.message.bytes ",
                                     cfg.max_message_bytes));
  }
  const bool idempotent = view.producer_id() >= 0;
  if (idempotent) {
    // Checked and recorded under mu_ with the append itself, so two retries of one batch can
    // never both be appended.
    ASSIGN_OR_RETURN(std::optional<ProducerBatch> dup, producers_.Check(view));
    if (dup) {
      AppendResult r;
      r.base_offset = dup->base_offset;
      r.last_offset = dup->last_offset;
      r.sync_before_ack = cfg.sync_every_append();
      r.duplicate = true;
      return r;
    }
  }
  auto seg = active();
  int64_t now = Now();
  if (options_.disk_space != nullptr) {
    if (absl::Status s = options_.disk_space->Reserve(batch.size()); !s.ok()) {
      return LogAppendFailure(std::move(s), now);
    }
  }
  if (seg->size() > 0 &&
      (static_cast<int64_t>(seg->size() + batch.size()) > cfg.segment_bytes ||
       now - seg->created_ms() >= cfg.segment_ms)) {
    if (absl::Status s = RollLocked(); !s.ok()) return LogAppendFailure(std::move(s), now);
    seg = active();
  }

  AppendResult r;
  r.base_offset = log_end_;
  r.last_offset = log_end_ + view.last_offset_delta();
  SetBaseOffset(batch, r.base_offset);
  auto appended = seg->Append(batch);
  if (!appended.ok()) return LogAppendFailure(appended.status(), now);
  const uint64_t position = *appended;

  BatchIndexEntry e{r.base_offset, r.last_offset, seg->base_offset(), position,
                    static_cast<uint32_t>(batch.size()), view.max_timestamp()};
  bool raises = view.max_timestamp() > max_timestamp_;
  absl::Status s = options_.meta->PutBatch(options_.key, e, raises);
  if (!s.ok()) {
    // The batch must not stay in the segment unindexed: cut it back out.
    absl::Status t = seg->TruncateTo(position);
    if (!t.ok()) {
      fenced_ = t;
      spdlog::error("partition {}: could not remove unindexed batch: {}", options_.dir,
                    t.ToString());
    }
    return LogAppendFailure(std::move(s), now);
  }
  if (raises) max_timestamp_ = view.max_timestamp();
  if (idempotent) producers_.Record(view, r.base_offset, now);
  seg->ObserveTimestamp(view.max_timestamp());
  log_end_ = r.last_offset + 1;
  if (options_.high_watermark_follows_log_end) high_watermark_ = log_end_;
  if (unflushed_messages_ == 0) oldest_unflushed_ms_ = now;
  unflushed_messages_ += static_cast<uint64_t>(view.record_count());
  unflushed_bytes_ += batch.size();
  r.sync_before_ack = cfg.sync_every_append();
  bool due = static_cast<int64_t>(unflushed_messages_) >= cfg.flush_messages ||
             static_cast<int64_t>(unflushed_bytes_) >= cfg.flush_bytes;
  l.unlock();
  if (due) options_.request_flush();
  return r;
}

absl::Status PartitionLog::LogAppendFailure(absl::Status s, int64_t now_ms) {
  // A full disk fails every append: one line per partition per 10 s, with the count in between.
  ++append_failures_unlogged_;
  if (now_ms - last_append_failure_log_ms_ >= 10000) {
    spdlog::error("partition {}: append failed, nothing acknowledged ({} failure{} since the last "
                  "report): {}",
                  options_.dir, append_failures_unlogged_, append_failures_unlogged_ == 1 ? "" : "s",
                  std::string(s.message()));
    last_append_failure_log_ms_ = now_ms;
    append_failures_unlogged_ = 0;
  }
  return s;
}

absl::StatusOr<ReadResult> PartitionLog::Read(Offset from, uint64_t max_bytes, bool min_one_batch,
                                              std::optional<Offset> upto) const {
  ReadResult r;
  std::map<Offset, std::shared_ptr<Segment>> segments;
  Offset end;
  {
    std::lock_guard l(mu_);
    r.high_watermark = high_watermark_;
    r.log_start_offset = log_start_;
    if (from < log_start_ || from > log_end_) {
      return StorageError(StorageErrc::kOffsetOutOfRange,
                          absl::StrCat("offset ", from.value(), " is outside the log [",
                                       log_start_.value(), ", ", log_end_.value(), "]"));
    }
    end = upto ? std::min(*upto, log_end_) : high_watermark_;
    segments = segments_;
  }
  r.next_offset = from;
  if (from >= end) return r;

  absl::Status scan_error;
  absl::Status s = options_.meta->ScanBatches(options_.key, from, [&](const BatchIndexEntry& e) {
    if (e.last_offset >= end) return false;
    if (r.total_bytes + e.size > max_bytes && !(min_one_batch && r.slices.empty())) return false;
    auto it = segments.find(e.segment_base);
    if (it == segments.end()) return false;  // deleted by retention since the snapshot
    if (!r.slices.empty() && r.slices.back().segment == it->second &&
        r.slices.back().position + r.slices.back().size == e.position) {
      r.slices.back().size += e.size;
    } else {
      r.slices.push_back(FileSlice{it->second, e.position, e.size});
    }
    r.total_bytes += e.size;
    r.next_offset = e.last_offset + 1;
    return true;
  });
  RETURN_IF_ERROR(s);
  return r;
}

absl::StatusOr<std::optional<TimestampLookup>> PartitionLog::OffsetForTimestamp(int64_t ts) const {
  ASSIGN_OR_RETURN(std::optional<Offset> base,
                   options_.meta->FindOffsetForTimestamp(options_.key, ts));
  if (!base) return std::optional<TimestampLookup>();
  Offset start = std::max(*base, log_start_offset());
  ASSIGN_OR_RETURN(ReadResult rr, Read(start, 1, /*min_one_batch=*/true, log_end_offset()));
  if (rr.slices.empty()) return std::optional<TimestampLookup>();
  ASSIGN_OR_RETURN(std::string bytes, rr.ReadAll());
  ASSIGN_OR_RETURN(RecordBatchView view, RecordBatchView::Parse(AsBytes(bytes)));
  TimestampLookup found{view.base_offset(), view.max_timestamp()};
  if (view.compression() == Compression::kNone &&
      view.timestamp_type() == TimestampType::kCreateTime) {
    RETURN_IF_ERROR(view.ForEachRecord([&](const RecordView& rec) {
      int64_t t = view.base_timestamp() + rec.timestamp_delta;
      Offset o = view.base_offset() + rec.offset_delta;
      if (t >= ts && o >= start) {
        found = {o, t};
        return false;
      }
      return true;
    }));
  }
  return std::optional<TimestampLookup>(found);
}

absl::Status PartitionLog::Roll() {
  std::lock_guard l(mu_);
  if (active()->size() == 0) return absl::OkStatus();
  return RollLocked();
}

absl::Status PartitionLog::RollLocked() {
  auto old = active();
  ASSIGN_OR_RETURN(auto seg, Segment::Create(options_.files, options_.dir, log_end_, Now()));
  // The summary lets a restart skip rescanning this segment for its max timestamp.
  options_.meta
      ->PutSegmentSummary(options_.key, old->base_offset(),
                          SegmentSummary{old->size(), old->max_timestamp()})
      .IgnoreError();  // a missing summary is recomputed from the index on open
  segments_.emplace(seg->base_offset(), std::move(seg));
  dir_dirty_ = true;
  return absl::OkStatus();
}

absl::StatusOr<int> PartitionLog::ApplyRetention() {
  std::lock_guard f(flush_mu_);
  std::lock_guard l(mu_);
  int deleted = 0;
  int64_t now = Now();
  // Producer state outlives the batches retention deletes (as in current Kafka); only idleness
  // expires it. The next checkpoint persists the smaller table.
  size_t expired = producers_.ExpireIdle(now, options_.producer_id_expiration_ms);
  if (expired > 0) {
    spdlog::info("{}: expired {} idle producers", options_.dir, expired);
  }
  const LogConfig& cfg = options_.config;
  while (segments_.size() > 1) {
    auto oldest = segments_.begin()->second;
    Offset next_base = std::next(segments_.begin())->first;
    const char* reason = nullptr;
    if (next_base <= log_start_) {
      reason = "below log start offset";
    } else if (cfg.retention_bytes >= 0) {
      uint64_t total = 0;
      for (const auto& [b, s] : segments_) total += s->size();
      if (static_cast<int64_t>(total - oldest->size()) >= cfg.retention_bytes) {
        reason = "retention.bytes";
      }
    }
    if (!reason && cfg.retention_ms >= 0) {
      int64_t ts = oldest->max_timestamp() >= 0 ? oldest->max_timestamp() : oldest->created_ms();
      if (now - ts > cfg.retention_ms) reason = "retention.ms";
    }
    if (!reason) break;
    RETURN_IF_ERROR(DeleteOldestSegmentLocked(reason));
    ++deleted;
  }
  return deleted;
}

absl::Status PartitionLog::DeleteOldestSegmentLocked(const char* reason) {
  // Invariant: never the active segment.
  assert(segments_.size() > 1);
  auto oldest = segments_.begin()->second;
  Offset next_base = std::next(segments_.begin())->first;
  // Order matters for crash safety: the durable log start moves first, so a crash at any later
  // step leaves only leftovers that open cleans up (a file or index range below the start).
  if (log_start_ < next_base) {
    RETURN_IF_ERROR(options_.meta->PutLogStartOffset(options_.key, next_base));
    log_start_ = next_base;
  }
  RETURN_IF_ERROR(options_.meta->DeleteBatchesBefore(options_.key, next_base));
  options_.meta->DeleteSegmentSummary(options_.key, oldest->base_offset()).IgnoreError();
  std::error_code ec;
  std::filesystem::remove(oldest->path(), ec);
  if (ec) {
    return ErrnoError(ec.value(), absl::StrCat("remove ", oldest->path()));
  }
  spdlog::info("{}: deleted segment {} ({} bytes, {})", options_.dir,
               Segment::FileName(oldest->base_offset()), oldest->size(), reason);
  segments_.erase(segments_.begin());
  dir_dirty_ = true;
  if (high_watermark_ < log_start_) high_watermark_ = log_start_;
  return absl::OkStatus();
}

absl::Status PartitionLog::DeleteRecordsBefore(Offset offset) {
  {
    std::lock_guard l(mu_);
    if (offset > high_watermark_) {
      return StorageError(StorageErrc::kOffsetOutOfRange,
                          absl::StrCat("cannot delete records before ", offset.value(),
                                       ": above the high watermark ", high_watermark_.value()));
    }
    if (offset <= log_start_) return absl::OkStatus();
    RETURN_IF_ERROR(options_.meta->PutLogStartOffset(options_.key, offset));
    log_start_ = offset;
  }
  return ApplyRetention().status();
}

absl::Status PartitionLog::TruncateTo(Offset offset) {
  std::lock_guard f(flush_mu_);
  std::unique_lock l(mu_);
  if (offset >= log_end_) return absl::OkStatus();
  if (offset < log_start_) {
    return StorageError(StorageErrc::kOffsetOutOfRange,
                        absl::StrCat("cannot truncate to ", offset.value(), ": below log start ",
                                     log_start_.value()));
  }
  ASSIGN_OR_RETURN(std::optional<BatchIndexEntry> e, options_.meta->FindBatch(options_.key, offset));
  if (!e) {
    return StorageError(StorageErrc::kIoError,
                        absl::StrCat("no index entry for offset ", offset.value(), " below log end ",
                                     log_end_.value()));
  }
  Offset new_end = e->base_offset;
  ProducerStateTable producers = producers_;
  producers.TruncateTo(new_end);
  // The checkpoint must never point past the data: lower it durably before cutting, with the
  // producer state as of the new end.
  ASSIGN_OR_RETURN(auto cp, options_.meta->GetCheckpoint(options_.key));
  if (!cp || cp->next_offset > new_end) {
    RETURN_IF_ERROR(options_.meta->PutCheckpoint(
        options_.key, Checkpoint{e->segment_base, e->position, new_end}, /*sync=*/true,
        producers.Encode(new_end)));
    persisted_producer_version_ = producers.version();
  }
  // Even if a later step fails, the batches past new_end are gone from the durable state.
  producers_ = std::move(producers);
  while (segments_.rbegin()->first > e->segment_base) {
    auto seg = segments_.rbegin()->second;
    std::error_code ec;
    std::filesystem::remove(seg->path(), ec);
    if (ec) return ErrnoError(ec.value(), absl::StrCat("remove ", seg->path()));
    options_.meta->DeleteSegmentSummary(options_.key, seg->base_offset()).IgnoreError();
    segments_.erase(std::prev(segments_.end()));
    dir_dirty_ = true;
  }
  auto seg = active();
  RETURN_IF_ERROR(seg->TruncateTo(e->position));
  options_.meta->DeleteSegmentSummary(options_.key, seg->base_offset()).IgnoreError();
  RETURN_IF_ERROR(options_.meta->DeleteBatchesFrom(options_.key, new_end));
  ASSIGN_OR_RETURN(auto max_ts, options_.meta->MaxIndexedTimestamp(options_.key));
  max_timestamp_ = max_ts.value_or(-1);
  spdlog::info("{}: truncated to offset {} (log end was {})", options_.dir, new_end.value(),
               log_end_.value());
  log_end_ = new_end;
  high_watermark_ = std::min(high_watermark_, log_end_);
  durable_ = std::min(durable_, log_end_);
  // Waiters for truncated offsets will never see them durable.
  std::deque<Waiter> dropped;
  while (!waiters_.empty() && waiters_.back().last >= new_end) {
    dropped.push_front(std::move(waiters_.back()));
    waiters_.pop_back();
  }
  l.unlock();
  for (auto& w : dropped) {
    w.done(StorageError(StorageErrc::kOffsetOutOfRange, "offset truncated before it was durable"));
  }
  return absl::OkStatus();
}

void PartitionLog::AwaitDurable(Offset last, absl::AnyInvocable<void(absl::Status)> done) {
  std::unique_lock l(mu_);
  if (!fenced_.ok()) {
    absl::Status s = fenced_;
    l.unlock();
    done(s);
    return;
  }
  if (last < durable_) {
    l.unlock();
    done(absl::OkStatus());
    return;
  }
  // Invariant: waiters_ stays ordered by `last` (appends assign increasing offsets).
  auto it = waiters_.end();
  while (it != waiters_.begin() && std::prev(it)->last > last) --it;
  waiters_.insert(it, Waiter{last, std::move(done)});
  l.unlock();
  options_.request_flush();
}

bool PartitionLog::HasUnflushed() const {
  std::lock_guard l(mu_);
  return durable_ < log_end_ || dir_dirty_ || !waiters_.empty();
}

bool PartitionLog::FlushDue(int64_t now_ms) const {
  std::lock_guard l(mu_);
  if (durable_ >= log_end_ && !dir_dirty_) return false;
  if (!waiters_.empty()) return true;
  const LogConfig& cfg = options_.config;
  return static_cast<int64_t>(unflushed_messages_) >= cfg.flush_messages ||
         static_cast<int64_t>(unflushed_bytes_) >= cfg.flush_bytes ||
         now_ms - oldest_unflushed_ms_ >= cfg.flush_ms;
}

absl::Status PartitionLog::Flush() {
  std::lock_guard f(flush_mu_);
  std::vector<std::shared_ptr<Segment>> dirty;
  Offset target;
  Checkpoint cp;
  std::optional<std::string> snapshot;
  uint64_t snapshot_version = 0;
  bool dir_dirty;
  {
    std::lock_guard l(mu_);
    if (!fenced_.ok()) return fenced_;
    target = log_end_;
    for (const auto& [base, seg] : segments_) {
      if (seg->synced_size() < seg->size()) dirty.push_back(seg);
    }
    auto act = active();
    cp = Checkpoint{act->base_offset(), act->size(), log_end_};
    snapshot = ProducerSnapshotLocked(log_end_, &snapshot_version);
    dir_dirty = dir_dirty_;
    dir_dirty_ = false;
    unflushed_messages_ = 0;
    unflushed_bytes_ = 0;
    oldest_unflushed_ms_ = Now();
  }
  absl::Status s;
  for (auto& seg : dirty) {
    s = seg->Sync();
    if (!s.ok()) break;
  }
  if (s.ok() && dir_dirty) s = SyncDir(options_.dir);
  if (!s.ok()) {
    // After a failed fsync the page cache can no longer be trusted to reach the disk
    // (fsyncgate): fence the partition; a restart re-validates it from the last checkpoint.
    spdlog::error("{}: sync failed, partition fenced: {}", options_.dir, s.ToString());
    {
      std::lock_guard l(mu_);
      fenced_ = s;
    }
    FailWaiters(s);
    return s;
  }
  // Checkpoint write failures only cost a longer recovery scan; the data is durable.
  bool written = options_.meta->PutCheckpoint(options_.key, cp, /*sync=*/false, snapshot).ok();
  std::vector<Waiter> ready;
  {
    std::lock_guard l(mu_);
    if (written && snapshot) persisted_producer_version_ = snapshot_version;
    durable_ = std::max(durable_, std::min(target, log_end_));
    while (!waiters_.empty() && waiters_.front().last < durable_) {
      ready.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
    }
  }
  for (auto& w : ready) w.done(absl::OkStatus());
  return absl::OkStatus();
}

void PartitionLog::FailWaiters(const absl::Status& s) {
  std::deque<Waiter> all;
  {
    std::lock_guard l(mu_);
    all.swap(waiters_);
  }
  for (auto& w : all) w.done(s);
}

absl::Status PartitionLog::Close() {
  absl::Status s = Flush();
  std::lock_guard f(flush_mu_);
  std::lock_guard l(mu_);
  if (closed_) return s;
  closed_ = true;
  if (s.ok()) {
    auto act = active();
    options_.meta
        ->PutSegmentSummary(options_.key, act->base_offset(),
                            SegmentSummary{act->size(), act->max_timestamp()})
        .IgnoreError();
    uint64_t version = 0;
    std::optional<std::string> snapshot = ProducerSnapshotLocked(log_end_, &version);
    s = options_.meta->PutCheckpoint(
        options_.key, Checkpoint{act->base_offset(), act->size(), log_end_}, /*sync=*/true,
        snapshot);
    if (s.ok() && snapshot) persisted_producer_version_ = version;
  }
  return s;
}

}  // namespace sluice::storage
