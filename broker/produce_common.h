#pragma once
// The protocol-independent steps of a produce, shared by the native and the Kafka handlers:
// splitting one partition's data into record batches, appending them, and waiting until they are
// durable (acks=-1, or the flush policy's flush.messages=1).
//
// A handler resolves each partition (TopicAdmin::Partition, auto-creating), calls AppendAll (or
// SplitBatches + AppendBatches when it inspects the batches first), notifies long-polling fetches,
// releases the next request and then co_awaits AwaitDurable for the partitions that need it. A
// partition whose data could not be made durable is answered with an error, never success.
//
// Example:
//   auto appended = AppendAll(*log, data);
//   if (appended.ok() && (acks == -1 || appended->sync_before_ack))
//     targets.push_back(DurableTarget{log, appended->last});
//   ...
//   std::vector<absl::Status> durable = co_await AwaitDurable(std::move(targets), timeout);

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio/awaitable.hpp"
#include "storage/partition_log.h"
#include "storage/types.h"

namespace sluice::broker {

// The durability wait for a request's timeout_ms: at most --request-timeout-ms (`cap_ms`), which
// is also the wait when timeout_ms is 0 or less.
inline std::chrono::milliseconds ProduceTimeout(int64_t timeout_ms, int64_t cap_ms) {
  return std::chrono::milliseconds(timeout_ms > 0 ? std::min(timeout_ms, cap_ms) : cap_ms);
}

struct Appended {
  Offset base{-1};  // base offset of the first batch
  Offset last{-1};  // last offset of the last batch
  // The flush policy wants these batches synced before they are acknowledged.
  bool sync_before_ack = false;
};

// Splits one partition's data into its batches (by their batchLength only; contents are checked
// by the append). Each must be whole and the last must end exactly at the end of the data; no
// batch at all is an error too (kCorruptBatch).
absl::StatusOr<std::vector<std::span<uint8_t>>> SplitBatches(std::span<uint8_t> data);

// Appends `batches` in order, patching each baseOffset in place (the request buffer is the
// handler's). When there are several, all are validated first, so a bad one means none is
// appended. A failure of a later Append (I/O, or a producer-sequence check) leaves the earlier
// batches appended and returns that error.
absl::StatusOr<Appended> AppendBatches(storage::PartitionLog& log,
                                       std::span<const std::span<uint8_t>> batches);
// SplitBatches + AppendBatches.
absl::StatusOr<Appended> AppendAll(storage::PartitionLog& log, std::span<uint8_t> data);

struct DurableTarget {
  std::shared_ptr<storage::PartitionLog> log;
  Offset last;
};

// Waits until each target is durable or `timeout` passes; one status per target, in order
// (DeadlineExceeded for those still waiting at the timeout). PartitionLog::AwaitDurable calls
// back on the flusher thread; the result is delivered on the awaiting coroutine's executor.
asio::awaitable<std::vector<absl::Status>> AwaitDurable(std::vector<DurableTarget> targets,
                                                        std::chrono::milliseconds timeout);

}  // namespace sluice::broker
