#pragma once
// ConsumerCore: the io-thread half of sluice::Consumer.
//
// Owns the consumer's connections (control: metadata, offsets lookups and the coordinator;
// fetch: long polls), its metadata cache, its SubscriptionState, the GroupMembership and the
// Fetcher, and the queue of events (rebalances, async commit results) waiting to be reported on
// the caller's thread. Poll() hands out events before records, so rebalance callbacks always run
// before records of a new assignment are returned; a revocation waits until the caller has run
// its callback (AckEvents), so the callback can still commit the revoked partitions.
//
// Thread: every method runs on the consumer's io thread. Lifecycle: created by Consumer, shared
// with the coroutines it spawns (which keep it alive); Close() ends them all.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio.hpp"
#include "client/src/connection.h"
#include "client/src/fetcher.h"
#include "client/src/group_membership.h"
#include "client/src/metadata.h"
#include "client/src/subscription_state.h"
#include "sluice/client_config.h"
#include "sluice/types.h"

namespace sluice::client {

using CommitCallback = std::function<void(const absl::Status&, const OffsetMap&)>;

struct ConsumerEvent {
  enum class Kind { kRevoked, kAssigned, kCommitted };
  Kind kind = Kind::kAssigned;
  uint64_t sequence = 0;
  std::vector<TopicPartition> partitions;  // kRevoked, kAssigned
  absl::Status status;                     // kCommitted
  OffsetMap offsets;                       // kCommitted
  CommitCallback callback;                 // kCommitted
};

struct PollResult {
  std::vector<ConsumerEvent> events;  // when set, no records: run them and poll again
  std::vector<ConsumerRecord> records;
};

class ConsumerCore : public MembershipListener, public std::enable_shared_from_this<ConsumerCore> {
 public:
  ConsumerCore(asio::any_io_executor executor, ConsumerConfig config);

  // `report_rebalances`: queue kRevoked/kAssigned events (a listener is set).
  void Subscribe(std::vector<std::string> topics, bool report_rebalances);
  // Waits until `deadline` for events or records.
  asio::awaitable<absl::StatusOr<PollResult>> Poll(Clock::time_point deadline);
  // The caller ran the callbacks of events up to `sequence`.
  void AckEvents(uint64_t sequence);
  // Events still queued (at close).
  std::vector<ConsumerEvent> TakeEvents();

  // nullopt: the positions of every assigned partition.
  asio::awaitable<absl::Status> Commit(std::optional<OffsetMap> offsets);
  void CommitAsync(std::optional<OffsetMap> offsets, CommitCallback callback);
  asio::awaitable<absl::StatusOr<std::map<TopicPartition, int64_t>>> Committed(
      std::vector<TopicPartition> partitions);

  absl::Status Seek(const TopicPartition& tp, int64_t offset);
  absl::StatusOr<int64_t> Position(const TopicPartition& tp) const;
  absl::Status SetPaused(const std::vector<TopicPartition>& tps, bool paused);
  std::vector<TopicPartition> Assignment() const { return state_.Assignment(); }

  // Leaves the group and closes everything.
  asio::awaitable<absl::Status> Close();

  // MembershipListener
  asio::awaitable<void> OnRevoke(bool generation_valid) override;
  void OnAssigned(std::vector<TopicPartition> partitions) override;
  asio::awaitable<PartitionCounts> RefreshMetadata(std::vector<std::string> topics) override;
  void OnFatalError(absl::Status status) override;

 private:
  uint64_t PushEvent(ConsumerEvent event);
  void NotifyPoller();
  asio::awaitable<void> AutoCommitLoop();

  asio::any_io_executor executor_;
  const ConsumerConfig config_;
  ConnectionPool control_;
  ConnectionPool fetch_connections_;
  MetadataCache metadata_;
  SubscriptionState state_;
  std::shared_ptr<GroupMembership> group_;
  std::shared_ptr<Fetcher> fetcher_;

  std::deque<ConsumerEvent> events_;
  uint64_t next_sequence_ = 1;
  uint64_t acked_sequence_ = 0;
  asio::steady_timer ack_signal_;              // cancelled by AckEvents and Close
  asio::steady_timer* poll_waiter_ = nullptr;  // the timer of a waiting Poll(), if any
  asio::steady_timer auto_commit_timer_;
  bool report_rebalances_ = false;
  bool subscribed_ = false;
  bool closed_ = false;
  absl::Status error_;  // reported by the next Poll()
};

}  // namespace sluice::client
