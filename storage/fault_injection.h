#pragma once
// FaultInjectionFileFactory: POSIX files whose writes or syncs fail with EIO on demand, for
// testing the real broker's handling of I/O errors (a failed fdatasync fences the partition) on
// file systems that never fail. Off unless sluiced is started with the environment variable
// SLUICE_FAULT_INJECTION=<control file> (it then logs a warning); never for production.
//
// The control file holds lines "<op> <path substring>", op being "write" or "sync": an operation
// of that kind on a file whose path contains the substring fails. The file is re-read at most
// every 50 ms; a missing file injects nothing. Example:
//   echo "sync /orders-0/" > /tmp/faults   # every fdatasync of partition orders-0 fails

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/file.h"

namespace sluice::storage {

class FaultInjectionFileFactory : public FileFactory {
 public:
  explicit FaultInjectionFileFactory(std::string control_path);
  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, bool create) override;

  // True if the control file says `op` on `path` must fail.
  bool ShouldFail(std::string_view op, const std::string& path);

 private:
  const std::string control_path_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point next_read_{};
  std::vector<std::pair<std::string, std::string>> rules_;  // (op, path substring)
};

}  // namespace sluice::storage
