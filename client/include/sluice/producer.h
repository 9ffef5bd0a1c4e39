#pragma once
// sluice::Producer: sends records to a sluice broker over the native protocol.
//
// Send() is asynchronous: it reserves room in the producer's buffer (blocking up to max_block
// when buffer_memory is exhausted), hands the record to the producer's io thread and returns.
// There, records are grouped per partition into RecordBatch v2 batches of up to batch_size bytes;
// a batch is sent when full, after linger, or on Flush(). Batches to the same broker share one
// Produce request (up to max_request_size), with at most max_in_flight requests outstanding per
// connection. Retriable failures (connection loss, timeouts, the broker's transient errors) are
// retried after retry_backoff until delivery_timeout has passed since the record's batch was
// created; every record then reports exactly one outcome, through its callback and its future.
//
// Partitioning follows Kafka's default partitioner: keyed records go to
// toPositive(murmur2(key)) % partitions, so keys land where a Java producer would put them;
// keyless records stick to one partition per topic until that partition's batch is completed.
//
// Delivery semantics: at least once. Without idempotence a retried batch may be written twice
// (when the broker appended it but the acknowledgement was lost), and with max_in_flight > 1 a
// retried batch may land after a later batch of the same partition, as with Kafka's producer
// when idempotence is off. acks=0 reports offset -1 as soon as the request is written.
//
// Threads: Send(), Flush() and Close() may be called from any thread. Callbacks run on the
// producer's io thread: keep them short and do not call Flush() or Close() from them (those fail
// with FailedPrecondition there); Send() from a callback never blocks (it fails with
// ResourceExhausted when the buffer is full).
//
// Example:
//   sluice::ProducerConfig config;
//   config.bootstrap_servers = {"127.0.0.1:9093"};
//   auto producer = sluice::Producer::Create(config);
//   if (!producer.ok()) return producer.status();
//   sluice::Record r{.topic = "orders", .key = "customer-17", .value = "{...}"};
//   std::future<sluice::SendResult> f = (*producer)->Send(r);
//   (*producer)->Send(r, [](const sluice::SendResult& res) {
//     if (!res.ok()) spdlog::warn("not delivered: {}", res.status().ToString());
//   });
//   sluice::SendResult first = f.get();   // offset of the first record, or why it failed
//   (*producer)->Close();

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/client_config.h"
#include "sluice/types.h"

namespace sluice {

class Producer {
 public:
  using Callback = std::function<void(const SendResult&)>;

  // Validates `config` and starts the io thread. Connects lazily, on the first request.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(ProducerConfig config);

  // Close() with the default timeout.
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues `record`. The future and `callback` (if set) both receive the outcome: metadata, or
  // InvalidArgument (empty topic, record larger than max_request_size or buffer_memory, partition
  // out of range), ResourceExhausted (no buffer room within max_block), NotFound (topic unknown
  // to the broker within max_block), DeadlineExceeded (delivery_timeout passed), Cancelled
  // (closed first), or the broker's error mapped to a status. Immediate failures invoke the
  // callback on the calling thread before Send() returns.
  std::future<SendResult> Send(Record record, Callback callback = nullptr);

  // Sends everything queued now without waiting for linger and waits until each of those
  // records has its outcome, or `timeout` passes (DeadlineExceeded).
  absl::Status Flush(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  // The number of partitions of `topic`, fetching metadata if needed.
  absl::StatusOr<int32_t> PartitionCount(
      const std::string& topic,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

  // Stops accepting records, flushes what is queued for up to `timeout`, fails the rest with
  // Cancelled and stops the io thread. Idempotent. Returns the Flush() outcome.
  absl::Status Close(std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

 private:
  class Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
