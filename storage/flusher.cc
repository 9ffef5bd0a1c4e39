#include "storage/flusher.h"

#include <chrono>

namespace sluice::storage {

Flusher::Flusher(std::function<int64_t()> now_ms, int64_t tick_ms)
    : now_ms_(std::move(now_ms)), tick_ms_(tick_ms), thread_([this] { Run(); }) {}

Flusher::~Flusher() { Stop(); }

void Flusher::Add(const std::shared_ptr<PartitionLog>& log) {
  std::lock_guard l(mu_);
  logs_.push_back(log);
}

void Flusher::Request() {
  {
    std::lock_guard l(mu_);
    requested_ = true;
  }
  cv_.notify_one();
}

void Flusher::SetSyncObserver(std::function<void(int64_t, const absl::Status&)> f) {
  std::lock_guard l(mu_);
  observer_ = std::move(f);
}

void Flusher::Stop() {
  {
    std::lock_guard l(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Flusher::Run() {
  std::vector<std::shared_ptr<PartitionLog>> live;
  for (;;) {
    bool stopping;
    std::function<void(int64_t, const absl::Status&)> observer;
    {
      std::unique_lock l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(tick_ms_), [&] { return requested_ || stop_; });
      requested_ = false;
      stopping = stop_;
      observer = observer_;
      live.clear();
      // Drop partitions that were deleted; keep the rest.
      std::erase_if(logs_, [&](const std::weak_ptr<PartitionLog>& w) {
        auto p = w.lock();
        if (!p) return true;
        live.push_back(std::move(p));
        return false;
      });
    }
    int64_t now = now_ms_();
    for (auto& log : live) {
      if (!(stopping ? log->HasUnflushed() : log->FlushDue(now))) continue;
      auto t0 = std::chrono::steady_clock::now();
      absl::Status s = log->Flush();  // logs and fences on failure
      if (observer) {
        observer(std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - t0)
                     .count(),
                 s);
      }
    }
    live.clear();
    if (stopping) return;
  }
}

}  // namespace sluice::storage
