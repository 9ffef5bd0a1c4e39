#pragma once
// GroupMembership: one consumer's membership in its group, Kafka's classic protocol.
//
// Owns the coordinator connection and the member's identity (member id, generation, the
// partitions last assigned). Its loop finds the coordinator, joins (JoinGroup with one protocol
// per configured assignor, each carrying a ConsumerProtocol subscription), computes the
// assignment when it is the leader, syncs, and then heartbeats every heartbeat_interval while
// refreshing the subscribed topics' metadata every metadata_max_age; a heartbeat error, a changed
// partition count or a new subscription starts the next rebalance. Rebalances are eager: before
// rejoining, the owner is asked to revoke everything (MembershipListener::OnRevoke).
// Also serves the owner's offset commits and lookups, which go to the coordinator.
//
// Thread: the consumer's io thread. Lifecycle: created by ConsumerCore, which it calls back
// through MembershipListener; the loop holds the owner while it runs, starts with the first
// Subscribe() and ends with Leave().

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio.hpp"
#include "client/src/assignor.h"
#include "client/src/connection.h"
#include "sluice/client_config.h"
#include "sluice/types.h"

namespace sluice::client {

class MembershipListener {
 public:
  virtual ~MembershipListener() = default;
  // Before (re)joining while partitions are held: commit if configured (only when
  // `generation_valid`), report the revocation and give every partition up.
  virtual asio::awaitable<void> OnRevoke(bool generation_valid) = 0;
  // The group assigned `partitions` to this member.
  virtual void OnAssigned(std::vector<TopicPartition> partitions) = 0;
  // Refreshes metadata of `topics`; returns the partition counts of those that exist.
  virtual asio::awaitable<PartitionCounts> RefreshMetadata(std::vector<std::string> topics) = 0;
  // A non-retriable group error (bad configuration, incompatible members) to report in Poll().
  virtual void OnFatalError(absl::Status status) = 0;
};

class GroupMembership : public std::enable_shared_from_this<GroupMembership> {
 public:
  // `owner` owns `config`, `connections` and `listener`; the loop keeps it alive while it runs.
  GroupMembership(asio::any_io_executor executor, std::weak_ptr<void> owner,
                  const ConsumerConfig& config, ConnectionPool& connections,
                  MembershipListener& listener);

  // Sets the subscription and (re)joins; starts the loop on first use.
  void Subscribe(std::vector<std::string> topics);

  // OffsetCommit for this member's generation (or outside any generation when not a member).
  asio::awaitable<absl::Status> Commit(OffsetMap offsets);
  // OffsetFetch: the committed offset of each partition, -1 for none.
  asio::awaitable<absl::StatusOr<std::map<TopicPartition, int64_t>>> FetchCommitted(
      std::vector<TopicPartition> partitions);

  // Ends the loop and sends LeaveGroup if this is a member.
  asio::awaitable<absl::Status> Leave();

  bool stable() const { return running_ && !rejoin_needed_ && generation_ >= 0; }
  int32_t generation() const { return generation_; }
  const std::string& member_id() const { return member_id_; }

 private:
  asio::awaitable<void> Run();
  asio::awaitable<absl::Status> EnsureCoordinator();
  asio::awaitable<absl::StatusOr<Response>> CallCoordinator(native::RequestHeader header,
                                                            std::chrono::milliseconds timeout);
  asio::awaitable<absl::Status> JoinAndSync();
  asio::awaitable<absl::StatusOr<std::string>> LeaderAssign(
      const native::JoinGroupResponse& join,
      std::vector<native::SyncGroupRequest::Assignment>* out);
  asio::awaitable<void> Heartbeat();
  asio::awaitable<void> CheckMetadata();
  asio::awaitable<void> SleepUntil(Clock::time_point t);
  // Reacts to a group error code from any response; true if it was handled as a rejoin.
  void OnGroupError(native::ErrorCode code);
  void ForgetCoordinator();
  void Wake() { wake_.cancel(); }

  asio::any_io_executor executor_;
  std::weak_ptr<void> owner_;
  const ConsumerConfig& config_;
  ConnectionPool& connections_;
  MembershipListener& listener_;
  asio::steady_timer wake_;

  std::vector<std::string> topics_;          // sorted subscription
  std::shared_ptr<Connection> coordinator_;  // null: unknown
  std::string coordinator_address_;
  std::string member_id_;
  int32_t generation_ = -1;
  std::vector<TopicPartition> owned_;  // last assignment, for the sticky assignor
  int32_t owned_generation_ = -1;
  bool holding_ = false;  // the owner holds owned_ (not yet revoked)
  bool lost_ = false;     // membership lost: commits would be rejected
  bool rejoin_needed_ = true;
  PartitionCounts snapshot_;  // partition counts at the last join
  Clock::time_point next_heartbeat_{};
  Clock::time_point next_metadata_{};
  bool running_ = false;
  bool leaving_ = false;
};

}  // namespace sluice::client
