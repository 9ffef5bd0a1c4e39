#include "client/src/subscription_state.h"

namespace sluice::client {

void SubscriptionState::SetAssignment(const std::vector<TopicPartition>& partitions) {
  partitions_.clear();
  for (const auto& tp : partitions) partitions_[tp];
  frozen_ = false;
}

std::vector<TopicPartition> SubscriptionState::Assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, s] : partitions_) out.push_back(tp);
  return out;
}

PartitionState* SubscriptionState::Find(const TopicPartition& tp) {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : &it->second;
}

const PartitionState* SubscriptionState::Find(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : &it->second;
}

std::vector<TopicPartition> SubscriptionState::NeedingPosition() const {
  std::vector<TopicPartition> out;
  if (frozen_) return out;
  for (const auto& [tp, s] : partitions_) {
    if (!s.position && !s.reset_pending) out.push_back(tp);
  }
  return out;
}

std::vector<TopicPartition> SubscriptionState::NeedingReset() const {
  std::vector<TopicPartition> out;
  if (frozen_) return out;
  for (const auto& [tp, s] : partitions_) {
    if (s.reset_pending) out.push_back(tp);
  }
  return out;
}

std::vector<TopicPartition> SubscriptionState::Fetchable() const {
  std::vector<TopicPartition> out;
  if (frozen_) return out;
  for (const auto& [tp, s] : partitions_) {
    if (s.position && !s.reset_pending && !s.paused && s.buffered.empty()) out.push_back(tp);
  }
  return out;
}

void SubscriptionState::SetPositionIfUnknown(const TopicPartition& tp, int64_t offset) {
  PartitionState* s = Find(tp);
  if (s == nullptr || s->position || s->reset_pending) return;
  s->position = offset;
}

void SubscriptionState::CompleteReset(const TopicPartition& tp, int64_t offset) {
  PartitionState* s = Find(tp);
  if (s == nullptr || !s->reset_pending) return;
  s->reset_pending = false;
  s->position = offset;
  s->buffered.clear();
  ++s->epoch;
}

void SubscriptionState::RequestReset(const TopicPartition& tp) {
  PartitionState* s = Find(tp);
  if (s == nullptr) return;
  s->reset_pending = true;
  s->buffered.clear();
  ++s->epoch;
}

bool SubscriptionState::Seek(const TopicPartition& tp, int64_t offset) {
  PartitionState* s = Find(tp);
  if (s == nullptr) return false;
  s->position = offset;
  s->reset_pending = false;
  s->buffered.clear();
  ++s->epoch;
  return true;
}

bool SubscriptionState::SetPaused(const TopicPartition& tp, bool paused) {
  PartitionState* s = Find(tp);
  if (s == nullptr) return false;
  s->paused = paused;
  return true;
}

void SubscriptionState::AddRecords(const TopicPartition& tp, std::vector<ConsumerRecord> records) {
  PartitionState* s = Find(tp);
  if (s == nullptr) return;
  for (auto& r : records) s->buffered.push_back(std::move(r));
}

std::vector<ConsumerRecord> SubscriptionState::Drain(size_t max) {
  std::vector<ConsumerRecord> out;
  if (frozen_ || partitions_.empty()) return out;
  const size_t n = partitions_.size();
  auto it = partitions_.begin();
  std::advance(it, drain_start_ % n);
  for (size_t i = 0; i < n && out.size() < max; ++i) {
    PartitionState& s = it->second;
    while (!s.paused && !s.buffered.empty() && out.size() < max) {
      s.position = s.buffered.front().offset + 1;
      out.push_back(std::move(s.buffered.front()));
      s.buffered.pop_front();
    }
    if (++it == partitions_.end()) it = partitions_.begin();
  }
  drain_start_ = (drain_start_ + 1) % n;
  return out;
}

bool SubscriptionState::HasDrainable() const {
  if (frozen_) return false;
  for (const auto& [tp, s] : partitions_) {
    if (!s.paused && !s.buffered.empty()) return true;
  }
  return false;
}

OffsetMap SubscriptionState::Positions() const {
  OffsetMap out;
  for (const auto& [tp, s] : partitions_) {
    if (s.position) out[tp] = OffsetAndMetadata{*s.position, ""};
  }
  return out;
}

}  // namespace sluice::client
