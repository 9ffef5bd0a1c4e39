#pragma once
// SubscriptionState: what a consumer has been assigned and where it stands in each partition:
// the position (next offset Poll() returns), pause flag, a pending offset reset, the records
// fetched ahead but not yet returned, and an epoch that Seek() and resets bump so that results
// of fetches issued before them are discarded.
//
// Pure bookkeeping, no I/O. Owned by the consumer's io thread (ConsumerCore); the group
// membership replaces the assignment, the fetcher fills buffers and positions, Poll() drains.
//
// Example:
//   state.SetAssignment({{"t", 0}});
//   state.SetPositionIfUnknown({"t", 0}, 42);
//   std::vector<ConsumerRecord> batch = state.Drain(500);

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "sluice/types.h"

namespace sluice::client {

struct PartitionState {
  std::optional<int64_t> position;
  bool paused = false;
  bool reset_pending = false;  // the position must be reset (auto_offset_reset)
  uint64_t epoch = 0;
  std::deque<ConsumerRecord> buffered;  // offsets >= position, in order
  int64_t high_watermark = -1;
};

class SubscriptionState {
 public:
  // Replaces the assignment; every partition starts without a position (eager rebalancing).
  void SetAssignment(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Assignment() const;
  bool empty() const { return partitions_.empty(); }
  PartitionState* Find(const TopicPartition& tp);
  const PartitionState* Find(const TopicPartition& tp) const;

  // While frozen (a revocation is being reported), nothing is drained or fetched.
  void set_frozen(bool frozen) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }

  // Partitions that need a committed offset looked up, or a reset.
  std::vector<TopicPartition> NeedingPosition() const;
  std::vector<TopicPartition> NeedingReset() const;
  // Partitions to fetch now: positioned, not paused, nothing buffered.
  std::vector<TopicPartition> Fetchable() const;

  void SetPositionIfUnknown(const TopicPartition& tp, int64_t offset);
  // Sets the position from a reset, if the reset is still wanted.
  void CompleteReset(const TopicPartition& tp, int64_t offset);
  void RequestReset(const TopicPartition& tp);
  // False if `tp` is not assigned.
  bool Seek(const TopicPartition& tp, int64_t offset);
  bool SetPaused(const TopicPartition& tp, bool paused);

  // Buffers fetched records (offsets >= position, in order) for `tp`.
  void AddRecords(const TopicPartition& tp, std::vector<ConsumerRecord> records);

  // Takes up to `max` buffered records of unpaused partitions, starting with a different
  // partition each call, and advances their positions.
  std::vector<ConsumerRecord> Drain(size_t max);
  bool HasDrainable() const;

  // Positions known, as offsets to commit.
  OffsetMap Positions() const;

 private:
  std::map<TopicPartition, PartitionState> partitions_;
  bool frozen_ = false;
  size_t drain_start_ = 0;
};

}  // namespace sluice::client
