#pragma once
// RecordAccumulator: the producer's per-partition queues of batches waiting to be sent.
//
// Owns ProducerBatch objects from the first record appended until the sender drains them; the
// sender hands a batch back (Reenqueue) when a retriable failure needs another attempt. Decides
// which partitions are ready: the first batch is full, or has lingered `linger`, or a flush is
// under way, and is not backing off from a failed attempt. Pure logic on a caller-supplied clock
// (no I/O, no timers), owned by the producer's io thread.
//
// Example:
//   RecordAccumulator acc({.batch_size = 16384, .linger = 5ms, .delivery_timeout = 120s});
//   acc.Append(tp, key, value, headers, ts, std::move(completion), reserved, now);
//   RecordAccumulator::ReadyResult r = acc.Ready(now, /*flush=*/false);
//   for (const auto& tp : r.ready) send(acc.Pop(tp));

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/types.h"
#include "storage/record_batch.h"

namespace sluice::client {

using Clock = std::chrono::steady_clock;
using SendCallback = std::function<void(const SendResult&)>;

// How one record reports its outcome: a callback, a promise, or both.
struct RecordCompletion {
  uint64_t sequence = 0;  // the producer's order of acceptance, for Flush()
  int64_t timestamp_ms = 0;
  SendCallback callback;
  std::shared_ptr<std::promise<SendResult>> promise;
};

// One RecordBatch v2 of one partition, with the completions of its records.
struct ProducerBatch {
  TopicPartition tp;
  storage::RecordBatchBuilder builder;
  std::string encoded;  // the built batch, set when first drained and kept for retries
  std::vector<RecordCompletion> records;
  size_t reserved_bytes = 0;  // BufferPool bytes to release when the batch completes
  Clock::time_point created;
  Clock::time_point retry_at;  // not sent again before this
  int attempts = 0;            // sends so far
  bool full = false;           // a later record did not fit

  size_t size_bytes() const { return encoded.empty() ? builder.size_bytes() : encoded.size(); }
  // Builds the batch bytes on first use.
  const std::string& Encode();
};

// Bytes a record adds to a batch, over-estimated slightly (varint lengths at their maximum).
size_t EstimateRecordSize(const Record& record);

class RecordAccumulator {
 public:
  struct Options {
    size_t batch_size = 16384;
    std::chrono::milliseconds linger{5};
    std::chrono::milliseconds delivery_timeout{120000};
  };
  struct AppendResult {
    bool new_batch = false;   // the record started a new batch
    bool batch_full = false;  // the partition now has a batch that is full
  };
  struct ReadyResult {
    std::vector<TopicPartition> ready;            // in partition order
    std::optional<Clock::time_point> next_check;  // when a not-ready batch becomes ready
  };

  explicit RecordAccumulator(Options options) : options_(options) {}

  AppendResult Append(const TopicPartition& tp, std::optional<std::string_view> key,
                      std::optional<std::string_view> value,
                      std::span<const storage::RecordBatchBuilder::Header> headers,
                      RecordCompletion completion, size_t reserved_bytes, Clock::time_point now);

  // Whether a record of `reserved_bytes` would close the partition's open batch and start a new
  // one (false when the partition has no open batch). The sticky partitioner moves keyless
  // records elsewhere instead, as Kafka's abortOnNewBatch does.
  bool WouldCloseBatch(const TopicPartition& tp, size_t reserved_bytes) const;

  ReadyResult Ready(Clock::time_point now, bool flush) const;

  // Removes and returns the partition's first batch (nullptr if none).
  std::unique_ptr<ProducerBatch> Pop(const TopicPartition& tp);
  // Puts a batch back at the front of its partition's queue, for a retry.
  void Reenqueue(std::unique_ptr<ProducerBatch> batch);
  // Removes every batch whose delivery deadline (created + delivery_timeout) has passed.
  std::vector<std::unique_ptr<ProducerBatch>> Expire(Clock::time_point now);
  // Removes everything (at close).
  std::vector<std::unique_ptr<ProducerBatch>> TakeAll();

  bool empty() const { return batches_.empty(); }
  size_t batch_count() const;

 private:
  bool Fits(const ProducerBatch& batch, size_t reserved_bytes) const;

  Options options_;
  std::map<TopicPartition, std::deque<std::unique_ptr<ProducerBatch>>> batches_;
};

}  // namespace sluice::client
