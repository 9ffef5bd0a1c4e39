#pragma once
// Fetcher: keeps a consumer's buffers filled.
//
// Its loop looks up a starting position for every newly assigned partition (the group's
// committed offset, else auto_offset_reset through ListOffsets), resets partitions whose fetch
// hit OFFSET_OUT_OF_RANGE, and long-polls Fetch (fetch_max_wait, fetch_min_bytes) for every
// partition that is positioned, not paused and has nothing buffered. Batches are decoded with the
// shared RecordBatch codec; records below the fetch position (the start of the first batch) and
// control batches are skipped. Results for a partition whose position moved while the fetch was
// out (Seek, reset, reassignment) are dropped.
//
// Fetches use their own connections (`fetch_connections`), so a long poll never delays
// heartbeats or commits. Thread: the consumer's io thread. Lifecycle: owned by ConsumerCore,
// whose state, metadata and membership it references; the loop holds the core while it runs and
// ends with Close().

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "asio.hpp"
#include "client/src/connection.h"
#include "client/src/group_membership.h"
#include "client/src/metadata.h"
#include "client/src/subscription_state.h"
#include "sluice/client_config.h"

namespace sluice::client {

// Decodes the batches of one partition's fetch payload into records at or after `from`.
// `*next` is set past the last batch seen (so a fetch that yields no record still advances).
// A trailing partial batch is ignored; a corrupt or compressed batch is an error.
absl::Status DecodeRecords(const TopicPartition& tp, std::string_view payload, int64_t from,
                           std::vector<ConsumerRecord>* out, int64_t* next);

class Fetcher : public std::enable_shared_from_this<Fetcher> {
 public:
  // `owner` owns every referenced object; the loop keeps it alive while it runs.
  Fetcher(asio::any_io_executor executor, std::weak_ptr<void> owner, const ConsumerConfig& config,
          SubscriptionState& state, MetadataCache& metadata, ConnectionPool& control_connections,
          ConnectionPool& fetch_connections, GroupMembership& group, std::function<void()> on_data,
          std::function<void(absl::Status)> on_error);

  void Start();
  // Something changed (assignment, seek, drained buffer): look again now.
  void Wake() { wake_.cancel(); }
  void Close();

 private:
  asio::awaitable<void> Run();
  asio::awaitable<absl::Status> ResolvePositions(std::vector<TopicPartition> partitions);
  asio::awaitable<absl::Status> ResetOffsets(std::vector<TopicPartition> partitions);
  asio::awaitable<absl::Status> FetchOnce(std::vector<TopicPartition> partitions);
  asio::awaitable<void> Sleep(std::chrono::milliseconds d);

  asio::any_io_executor executor_;
  std::weak_ptr<void> owner_;
  const ConsumerConfig& config_;
  SubscriptionState& state_;
  MetadataCache& metadata_;
  ConnectionPool& control_;
  ConnectionPool& fetch_;
  GroupMembership& group_;
  std::function<void()> on_data_;
  std::function<void(absl::Status)> on_error_;
  asio::steady_timer wake_;
  bool running_ = false;
  bool closed_ = false;
};

}  // namespace sluice::client
