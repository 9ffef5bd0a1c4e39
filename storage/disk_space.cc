#include "storage/disk_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/errors.h"

namespace sluice::storage {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

DiskSpace::DiskSpace(std::string path, int64_t min_free_bytes)
    : path_(std::move(path)), min_free_(min_free_bytes) {
  if (min_free_ > 0) Refresh();
}

void DiskSpace::Refresh() {
  if (min_free_ <= 0) return;
  std::lock_guard l(refresh_mu_);
  struct statvfs st {};
  if (statvfs(path_.c_str(), &st) != 0) {
    // Keep the old estimate: a failing statvfs must not fail or unblock appends by itself.
    spdlog::warn("statvfs {}: {}", path_, std::strerror(errno));
    return;
  }
  // f_bavail: what an unprivileged writer may use (root's reserved blocks excluded).
  free_.store(static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize),
              std::memory_order_relaxed);
  reserved_since_refresh_.store(0, std::memory_order_relaxed);
  refreshed_ns_.store(NowNs(), std::memory_order_relaxed);
}

absl::Status DiskSpace::Reserve(uint64_t bytes) {
  if (min_free_ <= 0) return absl::OkStatus();
  const auto n = static_cast<int64_t>(bytes);
  if (reserved_since_refresh_.fetch_add(n, std::memory_order_relaxed) + n > min_free_ / 4 ||
      NowNs() - refreshed_ns_.load(std::memory_order_relaxed) > 100'000'000) {
    Refresh();
  }
  if (free_.fetch_sub(n, std::memory_order_relaxed) - n >= min_free_) return absl::OkStatus();
  // The estimate says no: give the bytes back and look at the file system itself.
  free_.fetch_add(n, std::memory_order_relaxed);
  Refresh();
  const int64_t now_free = free_.fetch_sub(n, std::memory_order_relaxed);
  if (now_free - n >= min_free_) return absl::OkStatus();
  free_.fetch_add(n, std::memory_order_relaxed);
  return StorageError(StorageErrc::kDiskFull,
                      absl::StrCat("no space: ", path_, " has ", now_free,
                                   " bytes free, an append of ", n,
                                   " would leave less than the reserve of ", min_free_,
                                   " (--storage-min-free-bytes)"));
}

}  // namespace sluice::storage
