#pragma once
// The protocol-independent part of Fetch and ListOffsets, shared by the native and the Kafka
// handlers: reading several partitions within byte limits (KIP-74: the first partition with data
// returns at least one batch even past the limits), the long poll on min_bytes / max_wait woken by
// PartitionNotifier, and the offset lookup of ListOffsets.
//
// A fetch handler resolves its partitions into FetchParts (no auto-creation), then co_awaits
// ReadWithLongPoll, which reads once, lets the connection start the next request (hooks
// .release_next) and waits for more data only when the request asks for it. The parts then hold
// whole batches as file slices (sent with sendfile by the connection) or an error each.
//
// Example:
//   std::vector<FetchPart> parts = ...;  // log/error, offset, max_bytes per partition
//   FetchHooks hooks{[&ctx] { ctx.ReleaseNext(); }, [&ctx] { return ctx.connection_closed(); },
//                    [&ctx](const std::shared_ptr<Waker>& w) { ctx.RegisterWaker(w); }};
//   co_await ReadWithLongPoll(ctx.broker.notifier, parts, limits, hooks);

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio/awaitable.hpp"
#include "broker/notifier.h"
#include "storage/partition_log.h"
#include "storage/types.h"

namespace sluice::broker {

// One partition of a fetch.
struct FetchPart {
  std::shared_ptr<storage::PartitionLog> log;  // null when it could not be resolved (`error`)
  Offset offset{0};                            // where to read from
  uint64_t max_bytes = 0;                      // this partition's limit (KIP-74 may exceed it)
  absl::Status error;                          // resolution or read error
  storage::ReadResult read;                    // the last read (empty on error)
};

struct FetchLimits {
  uint64_t max_bytes = 0;  // the whole response's limit (KIP-74 may exceed it by one batch)
  uint64_t min_bytes = 0;  // wait until this much data is there...
  std::chrono::milliseconds max_wait{0};  // ...but at most this long
};

// What the long poll needs from the request's connection. Called on the request's executor.
struct FetchHooks {
  std::function<void()> release_next;        // RequestContext::ReleaseNext
  std::function<bool()> connection_closed;   // nobody will read the response
  // Registers a waker the connection wakes when it closes.
  std::function<void(const std::shared_ptr<Waker>&)> register_waker;
};

// Reads every resolved partition once within the limits; returns the payload bytes found. A read
// error (OFFSET_OUT_OF_RANGE, ...) is kept in the part. Once the response is full, later parts
// report their offsets only.
uint64_t ReadParts(std::span<FetchPart> parts, uint64_t max_bytes);

// Reads once, calls hooks.release_next, then, if fewer than min_bytes were found and max_wait
// allows, waits for appends (re-reading each time a watched partition is appended to) until
// min_bytes, any error, the deadline, the connection closing or the broker shutting down.
// `parts` and `hooks` must outlive the returned awaitable.
asio::awaitable<void> ReadWithLongPoll(PartitionNotifier& notifier, std::vector<FetchPart>& parts,
                                       FetchLimits limits, const FetchHooks& hooks);

// ListOffsets' lookup: timestamp -1 is the latest offset (the high watermark), -2 the earliest (the
// log start), others the first record with timestamp >= it. Offset and timestamp stay -1 when
// every record is older; the timestamp is -1 for -1 and -2. Another negative timestamp is
// InvalidArgument.
struct ListedOffset {
  Offset offset{-1};
  int64_t timestamp = -1;
};
inline constexpr int64_t kLatestTimestamp = -1;
inline constexpr int64_t kEarliestTimestamp = -2;
absl::StatusOr<ListedOffset> LookupOffset(const storage::PartitionLog& log, int64_t timestamp);

}  // namespace sluice::broker
