#include "storage/segment.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/errors.h"
#include "storage/status_macros.h"

namespace sluice::storage {

std::string Segment::FileName(Offset base) { return absl::StrFormat("%020d.log", base.value()); }

std::optional<Offset> Segment::ParseFileName(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".log") return std::nullopt;
  int64_t v = 0;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v > (INT64_MAX - (c - '0')) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return Offset(v);
}

Segment::Segment(std::unique_ptr<File> file, std::string path, Offset base, uint64_t size,
                 int64_t now_ms)
    : file_(std::move(file)),
      path_(std::move(path)),
      base_(base),
      created_ms_(now_ms),
      size_(size),
      synced_size_(size) {}

absl::StatusOr<std::shared_ptr<Segment>> Segment::Create(FileFactory* files, const std::string& dir,
                                                         Offset base, int64_t now_ms) {
  std::string path = absl::StrCat(dir, "/", FileName(base));
  ASSIGN_OR_RETURN(auto file, files->Open(path, /*create=*/true));
  RETURN_IF_ERROR(file->Truncate(0));
  return std::shared_ptr<Segment>(new Segment(std::move(file), std::move(path), base, 0, now_ms));
}

absl::StatusOr<std::shared_ptr<Segment>> Segment::Open(FileFactory* files, const std::string& dir,
                                                       Offset base, int64_t now_ms) {
  std::string path = absl::StrCat(dir, "/", FileName(base));
  ASSIGN_OR_RETURN(auto file, files->Open(path, /*create=*/false));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  return std::shared_ptr<Segment>(new Segment(std::move(file), std::move(path), base, size, now_ms));
}

absl::StatusOr<uint64_t> Segment::Append(Bytes data) {
  if (broken()) {
    return StorageError(StorageErrc::kFenced,
                        absl::StrCat(path_, " refused an append after an earlier unrepaired failure"));
  }
  uint64_t pos = size();
  absl::Status s = file_->WriteAt(pos, data);
  if (!s.ok()) {
    // Never leave a partial batch: cut back to where this append started.
    if (!file_->Truncate(pos).ok()) broken_.store(true, std::memory_order_release);
    return s;
  }
  size_.store(pos + data.size(), std::memory_order_release);
  return pos;
}

absl::StatusOr<size_t> Segment::Read(uint64_t position, std::span<uint8_t> dst) const {
  uint64_t end = size();
  if (position >= end) return size_t{0};
  if (dst.size() > end - position) dst = dst.first(end - position);
  return file_->ReadAt(position, dst);
}

absl::Status Segment::Sync() {
  uint64_t target = size();
  if (target <= synced_size()) return absl::OkStatus();
  RETURN_IF_ERROR(file_->Sync());
  // A concurrent append may have grown the file; only `target` bytes are known durable.
  uint64_t prev = synced_size_.load(std::memory_order_acquire);
  while (prev < target && !synced_size_.compare_exchange_weak(prev, target)) {
  }
  return absl::OkStatus();
}

absl::Status Segment::TruncateTo(uint64_t new_size) {
  if (new_size > size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncate ", path_, " to ", new_size, " past its size ", size()));
  }
  RETURN_IF_ERROR(file_->Truncate(new_size));
  size_.store(new_size, std::memory_order_release);
  if (synced_size() > new_size) synced_size_.store(new_size, std::memory_order_release);
  broken_.store(false, std::memory_order_release);
  return absl::OkStatus();
}

void Segment::ObserveTimestamp(int64_t ts) {
  int64_t prev = max_timestamp_.load(std::memory_order_relaxed);
  while (ts > prev && !max_timestamp_.compare_exchange_weak(prev, ts)) {
  }
}

}  // namespace sluice::storage
