#pragma once
// sluice::Consumer: reads records as a member of a consumer group.
//
// Group membership follows Kafka's classic protocol (FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup) with protocol type "consumer" and Kafka's ConsumerProtocol encodings,
// so Kafka consumers and sluice consumers can share a group. The leader computes the assignment
// with the first assignor of `assignors` that every member supports: "range", "roundrobin" or
// "cooperative-sticky". Rebalances are eager, whatever the assignor: before rejoining, a member
// commits (with auto commit), reports OnPartitionsRevoked for everything it owns and gives it
// all up. "cooperative-sticky" is a simplified sticky assignor that keeps partitions with their
// previous owners where balance allows (see client/src/assignor.h); Kafka's incremental
// cooperative protocol (keeping partitions across the rebalance) is not implemented.
//
// Positions: a newly assigned partition starts at the group's committed offset, or, with none,
// at the log start (auto_offset_reset kEarliest) or end (kLatest); an OFFSET_OUT_OF_RANGE fetch
// resets it the same way. Poll() returns records from the position and advances it; Commit()
// commits the positions (the next offset to read) of every assigned partition. With auto commit,
// positions are committed every auto_commit_interval, before a rebalance and in Close(), which
// gives at-least-once delivery of what Poll() returned.
//
// Threads: a Consumer is used from one thread at a time (like KafkaConsumer). Its io thread
// heartbeats, fetches ahead into a buffer and tracks metadata in the background; a new partition
// of a subscribed topic triggers a rebalance within metadata_max_age. Rebalance callbacks and
// CommitAsync() callbacks run on the caller's thread inside Poll() (and Close()); they may call
// the consumer's methods (Commit(), Seek(), Position(), ...), but not Poll() or Close().
//
// Example:
//   sluice::ConsumerConfig config;
//   config.bootstrap_servers = {"127.0.0.1:9093"};
//   config.group_id = "billing";
//   config.auto_offset_reset = sluice::AutoOffsetReset::kEarliest;
//   auto consumer = sluice::Consumer::Create(config);
//   if (!consumer.ok()) return consumer.status();
//   (*consumer)->Subscribe({"orders"});
//   while (running) {
//     auto records = (*consumer)->Poll(std::chrono::milliseconds(500));
//     if (!records.ok()) { spdlog::warn("{}", records.status().ToString()); continue; }
//     for (const sluice::ConsumerRecord& r : *records) Handle(r);
//   }
//   (*consumer)->Close();

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/client_config.h"
#include "sluice/types.h"

namespace sluice {

// Told about assignment changes, on the thread that calls Poll() (or Close()).
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Before a rebalance takes `partitions` away (all of them: rebalances are eager) and in
  // Close(). Positions are still readable and committable here.
  virtual void OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) {}
  // After the group gave this member `partitions`, before records from them are returned; a
  // Seek() here decides where reading starts.
  virtual void OnPartitionsAssigned(const std::vector<TopicPartition>& partitions) {}
};

class Consumer {
 public:
  using CommitCallback = std::function<void(const absl::Status&, const OffsetMap&)>;

  // Validates `config` and starts the io thread; nothing is sent before Subscribe().
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(ConsumerConfig config);

  // Close() with the default timeout.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Joins the group for `topics` (replacing an earlier subscription, which rebalances).
  // `listener` may be null; it must outlive the consumer.
  absl::Status Subscribe(std::vector<std::string> topics, RebalanceListener* listener = nullptr);

  // Runs pending rebalance and commit callbacks, then returns up to max_poll_records records,
  // waiting up to `timeout` for some to arrive. An empty vector means none arrived in time.
  absl::StatusOr<std::vector<ConsumerRecord>> Poll(std::chrono::milliseconds timeout);

  // Commits the position of every assigned partition, waiting for the outcome.
  absl::Status Commit();
  // Commits the given offsets (each the next offset to read).
  absl::Status Commit(const OffsetMap& offsets);
  // Commits without waiting; `callback` runs inside a later Poll() or Close().
  void CommitAsync(CommitCallback callback = nullptr);
  void CommitAsync(const OffsetMap& offsets, CommitCallback callback);

  // The group's committed offsets for `partitions` (-1: none).
  absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions);

  // Makes the next Poll() read `partition` from `offset`. FailedPrecondition if not assigned.
  absl::Status Seek(const TopicPartition& partition, int64_t offset);
  // The next offset Poll() returns for `partition`; Unavailable while it is being looked up.
  absl::StatusOr<int64_t> Position(const TopicPartition& partition);

  // Stops (resumes) returning and fetching records of assigned partitions.
  absl::Status Pause(const std::vector<TopicPartition>& partitions);
  absl::Status Resume(const std::vector<TopicPartition>& partitions);

  // The partitions currently assigned, sorted. This is the live state of the group membership,
  // which runs in the background: it can change before the matching OnPartitionsAssigned /
  // OnPartitionsRevoked callback runs on the next Poll().
  std::vector<TopicPartition> Assignment();

  // Commits (with auto commit), reports OnPartitionsRevoked, leaves the group and stops the io
  // thread. Idempotent; the consumer is unusable afterwards.
  absl::Status Close(std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

 private:
  class Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
