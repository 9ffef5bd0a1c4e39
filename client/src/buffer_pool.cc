#include "client/src/buffer_pool.h"

#include <cassert>

#include "absl/strings/str_cat.h"

namespace sluice::client {

absl::Status BufferPool::Reserve(size_t bytes, std::chrono::steady_clock::time_point deadline) {
  if (bytes > capacity_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a record of ~", bytes, " bytes exceeds buffer_memory (", capacity_, " bytes)"));
  }
  std::unique_lock lock(mu_);
  const bool ready = cv_.wait_until(lock, deadline, [&] { return closed_ || available_ >= bytes; });
  if (closed_) return absl::CancelledError("the producer is closed");
  if (!ready) {
    return absl::ResourceExhaustedError(
        absl::StrCat("buffer_memory (", capacity_,
                     " bytes) stayed full until max_block expired; the broker "
                     "is down or slower than the producer"));
  }
  available_ -= bytes;
  return absl::OkStatus();
}

void BufferPool::Release(size_t bytes) {
  {
    std::lock_guard lock(mu_);
    available_ += bytes;
    // Invariant: only bytes that were reserved come back.
    assert(available_ <= capacity_);
  }
  cv_.notify_all();
}

void BufferPool::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

size_t BufferPool::available() const {
  std::lock_guard lock(mu_);
  return available_;
}

}  // namespace sluice::client
