#pragma once
// Segment: one append-only file of RecordBatch v2 bytes, `<20-digit base offset>.log`.
//
// Owned by its PartitionLog through a shared_ptr; readers (fetch slices, sendfile) hold another
// reference, so a segment deleted by retention stays readable until the last reader lets go.
// Appends, truncation and sync come from the partition's writer (serialized by the partition);
// Read() and the size accessors may be called from any thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/file.h"
#include "storage/record_batch.h"
#include "storage/types.h"

namespace sluice::storage {

class Segment {
 public:
  // "00000000000000000042.log"
  static std::string FileName(Offset base);
  // The base offset a segment file name encodes, or nullopt if it is not one.
  static std::optional<Offset> ParseFileName(std::string_view name);

  // Creates an empty segment file (truncating any leftover of the same name).
  static absl::StatusOr<std::shared_ptr<Segment>> Create(FileFactory* files, const std::string& dir,
                                                         Offset base, int64_t now_ms);
  // Opens an existing segment; its size is the file's size.
  static absl::StatusOr<std::shared_ptr<Segment>> Open(FileFactory* files, const std::string& dir,
                                                       Offset base, int64_t now_ms);

  // Appends `data` at the end and returns the position it starts at. If the write fails the file
  // is cut back to its previous size, so no partial batch stays behind; if even that fails the
  // segment refuses further appends (broken()).
  absl::StatusOr<uint64_t> Append(Bytes data);
  // Reads up to dst.size() bytes at `position`, never past size().
  absl::StatusOr<size_t> Read(uint64_t position, std::span<uint8_t> dst) const;
  // fdatasync if anything was appended since the last sync.
  absl::Status Sync();
  // Cuts the file to `size` bytes (<= size()).
  absl::Status TruncateTo(uint64_t size);

  Offset base_offset() const { return base_; }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  uint64_t synced_size() const { return synced_size_.load(std::memory_order_acquire); }
  bool broken() const { return broken_.load(std::memory_order_acquire); }
  int fd() const { return file_->fd(); }
  // When this segment was created or opened (for segment.ms).
  int64_t created_ms() const { return created_ms_; }

  // Largest record timestamp seen in the segment (-1 if none), for time-based retention.
  int64_t max_timestamp() const { return max_timestamp_.load(std::memory_order_acquire); }
  void ObserveTimestamp(int64_t ts);

 private:
  Segment(std::unique_ptr<File> file, std::string path, Offset base, uint64_t size, int64_t now_ms);

  std::unique_ptr<File> file_;
  const std::string path_;
  const Offset base_;
  const int64_t created_ms_;
  std::atomic<uint64_t> size_;
  std::atomic<uint64_t> synced_size_;
  std::atomic<int64_t> max_timestamp_{-1};
  std::atomic<bool> broken_{false};
};

}  // namespace sluice::storage
