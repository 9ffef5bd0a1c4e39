#pragma once
// ProducerCore: the io-thread half of sluice::Producer, the sender.
//
// Owns the record accumulator, the metadata cache, the connections to brokers, the sticky
// partitioner and every record from the moment Send() hands it over until its outcome is
// reported: records waiting for their topic's metadata, batches lingering in the accumulator,
// and batches in Produce requests on the wire. One Pump() pass expires what is past its
// deadline, drains ready partitions into one request per broker (bounded by max_request_size and
// max_in_flight) and arms a timer for the next linger or backoff expiry; appends, responses and
// flushes schedule another pass.
//
// Thread: every method runs on the producer's io thread. Lifecycle: created by Producer, shared
// with the handlers it posts; Shutdown() fails whatever is left and closes the connections.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "asio.hpp"
#include "client/src/buffer_pool.h"
#include "client/src/connection.h"
#include "client/src/metadata.h"
#include "client/src/partitioner.h"
#include "client/src/record_accumulator.h"
#include "sluice/client_config.h"
#include "sluice/types.h"

namespace sluice::client {

class ProducerCore : public std::enable_shared_from_this<ProducerCore> {
 public:
  ProducerCore(asio::any_io_executor executor, ProducerConfig config,
               std::shared_ptr<BufferPool> pool);

  // Takes over a record whose `reserved` bytes were taken from the pool.
  void Enqueue(Record record, RecordCompletion completion, size_t reserved);
  // Sends everything without lingering; `done` runs once every record enqueued before this call
  // has its outcome.
  void Flush(std::function<void()> done);
  // Partition count of `topic`, asking the broker if it is not cached.
  asio::awaitable<absl::StatusOr<int32_t>> PartitionCount(std::string topic);
  // Fails everything still pending with `why` and closes the connections.
  void Shutdown(absl::Status why);

 private:
  struct AwaitingMetadata {
    Record record;
    RecordCompletion completion;
    size_t reserved = 0;
    Clock::time_point deadline;
  };
  using BatchList = std::vector<std::unique_ptr<ProducerBatch>>;

  void Route(AwaitingMetadata item);
  void SchedulePump();
  void Pump();
  void ArmTimer(Clock::time_point when);
  void ExpireAwaiting(Clock::time_point now);
  void WantMetadata(const std::string& topic);
  void MaybeFetchMetadata(Clock::time_point now);
  asio::awaitable<void> FetchMetadataNow(std::vector<std::string> topics);
  void SendRequest(const std::shared_ptr<Connection>& connection, BatchList batches);
  void OnResponse(Connection* connection, BatchList& batches, absl::StatusOr<Response> response);
  void RetryOrFail(std::unique_ptr<ProducerBatch> batch, absl::Status why);
  void CompleteBatch(ProducerBatch& batch, const absl::Status& status, int64_t base_offset);
  void CompleteRecord(RecordCompletion& completion, const SendResult& result);
  void CheckFlushWaiters();
  bool flushing() const { return !flush_waiters_.empty(); }

  asio::any_io_executor executor_;
  const ProducerConfig config_;
  std::shared_ptr<BufferPool> pool_;
  ConnectionPool connections_;
  MetadataCache metadata_;
  StickyPartitioner sticky_;
  RecordAccumulator accumulator_;
  asio::steady_timer timer_;

  std::map<std::string, std::deque<AwaitingMetadata>> awaiting_;  // by topic
  std::set<std::string> metadata_wanted_;
  bool metadata_in_flight_ = false;
  Clock::time_point metadata_retry_at_{};
  std::map<std::string, absl::Status> metadata_errors_;  // last error per awaited topic

  std::map<Connection*, int> in_flight_;  // Produce requests awaiting a response
  uint64_t next_sequence_ = 1;
  std::set<uint64_t> incomplete_;  // sequences of records without an outcome yet
  std::vector<std::pair<uint64_t, std::function<void()>>> flush_waiters_;  // (last sequence, done)
  size_t drain_start_ = 0;  // rotates the first partition drained, for fairness
  bool pump_posted_ = false;
  bool timer_armed_ = false;
  Clock::time_point timer_at_{};
  bool shut_down_ = false;
};

}  // namespace sluice::client
