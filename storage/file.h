#pragma once
// The small file interface the log writes through, so tests can inject faults (ENOSPC, EIO on
// write or sync) without a special file system. PosixFile is the real one.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace sluice::storage {

// One open file. Positional I/O only, so concurrent readers need no shared cursor. Reads and
// writes may run on different threads; a file's writes come from one thread at a time.
class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset` (retrying short writes) or fails; on failure some prefix
  // may have been written.
  virtual absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) = 0;
  // Reads up to dst.size() bytes at `offset`; returns the count read (short only at EOF).
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> dst) const = 0;
  // fdatasync.
  virtual absl::Status Sync() = 0;
  virtual absl::Status Truncate(uint64_t size) = 0;
  virtual absl::StatusOr<uint64_t> Size() const = 0;
  // The descriptor, for sendfile(2); -1 if the file has none.
  virtual int fd() const = 0;
};

// Opens (creating if asked) a file. Tests substitute a factory that wraps files with faults.
class FileFactory {
 public:
  virtual ~FileFactory() = default;
  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, bool create) = 0;
  // The process-wide POSIX factory.
  static FileFactory* Posix();
};

// fsync of a directory, so a created, renamed or removed entry in it is durable.
absl::Status SyncDir(const std::string& path);

}  // namespace sluice::storage
