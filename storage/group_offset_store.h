#pragma once
// GroupOffsetStore: durable committed offsets of consumer groups. The broker's group coordinator
// writes through it; LogManager::group_offsets() hands out the RocksDB-backed one (MetaStore's
// "group_offsets" column family, synced writes). Thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice::storage {

struct CommittedOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;
  std::string metadata;
  int64_t commit_time_ms = 0;
};

class GroupOffsetStore {
 public:
  virtual ~GroupOffsetStore() = default;
  // Writes all of `offsets` atomically and durably (synced) before returning OK.
  virtual absl::Status PutGroupOffsets(const std::string& group,
                                       const std::vector<CommittedOffset>& offsets) = 0;
  // Every committed offset of `group`, ordered by topic then partition.
  virtual absl::StatusOr<std::vector<CommittedOffset>> GetGroupOffsets(
      const std::string& group) const = 0;
  // Groups that have at least one committed offset.
  virtual absl::StatusOr<std::vector<std::string>> ListOffsetGroups() const = 0;
  virtual absl::Status DeleteGroupOffsets(const std::string& group) = 0;
  // Removes every group's offsets for `topic` (the topic was deleted).
  virtual absl::Status DeleteTopicOffsets(const std::string& topic) = 0;
};

}  // namespace sluice::storage
