#include "broker/fetch_common.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "asio/any_io_executor.hpp"
#include "asio/this_coro.hpp"

namespace sluice::broker {
namespace {

bool AnyError(std::span<const FetchPart> parts) {
  return std::any_of(parts.begin(), parts.end(), [](const FetchPart& p) { return !p.error.ok(); });
}

}  // namespace

uint64_t ReadParts(std::span<FetchPart> parts, uint64_t max_bytes) {
  uint64_t total = 0;
  for (FetchPart& p : parts) {
    if (!p.log) continue;  // resolution failed
    p.read = storage::ReadResult{};
    p.error = absl::OkStatus();
    uint64_t budget = total < max_bytes ? std::min(p.max_bytes, max_bytes - total) : 0;
    if (budget == 0 && total > 0) {  // the response is full: report offsets only
      p.read.next_offset = p.offset;
      p.read.high_watermark = p.log->high_watermark();
      p.read.log_start_offset = p.log->log_start_offset();
      continue;
    }
    auto r = p.log->Read(p.offset, budget, /*min_one_batch=*/total == 0);
    if (!r.ok()) {
      p.error = r.status();
      continue;
    }
    p.read = *std::move(r);
    total += p.read.total_bytes;
  }
  return total;
}

asio::awaitable<void> ReadWithLongPoll(PartitionNotifier& notifier, std::vector<FetchPart>& parts,
                                       FetchLimits limits, const FetchHooks& hooks) {
  uint64_t total = ReadParts(parts, limits.max_bytes);
  hooks.release_next();
  if (total >= limits.min_bytes || limits.max_wait.count() <= 0 || AnyError(parts) ||
      notifier.shutting_down()) {
    co_return;
  }
  // Registering before re-reading means an append that lands in between still wakes us.
  const auto deadline = std::chrono::steady_clock::now() + limits.max_wait;
  asio::any_io_executor ex = co_await asio::this_coro::executor;
  auto waker = std::make_shared<Waker>(ex);
  std::vector<PartitionNotifier::Key> keys;
  for (const FetchPart& p : parts) {
    if (p.log) keys.push_back(p.log.get());
  }
  notifier.Watch(keys, waker);
  hooks.register_waker(waker);
  for (;;) {
    waker->Rearm();
    total = ReadParts(parts, limits.max_bytes);
    if (total >= limits.min_bytes || AnyError(parts) || hooks.connection_closed() ||
        notifier.shutting_down() || std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    co_await waker->Wait(deadline);
  }
  notifier.Unwatch(keys, waker);
}

absl::StatusOr<ListedOffset> LookupOffset(const storage::PartitionLog& log, int64_t timestamp) {
  ListedOffset out;
  if (timestamp == kLatestTimestamp) {
    out.offset = log.high_watermark();
  } else if (timestamp == kEarliestTimestamp) {
    out.offset = log.log_start_offset();
  } else if (timestamp < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("timestamp ", timestamp, ": use -1 (latest), -2 (earliest) or ms"));
  } else {
    auto found = log.OffsetForTimestamp(timestamp);
    if (!found.ok()) return found.status();
    if (*found) {
      out.offset = (*found)->offset;
      out.timestamp = (*found)->timestamp;
    }
  }
  return out;
}

}  // namespace sluice::broker
