// GroupCoordinator::Impl: committed offsets (OffsetCommit, OffsetFetch) and the admin calls
// (ListGroups, DescribeGroups, DeleteGroups). Synced store writes run on the storage thread;
// reads of the store run on the strand (RocksDB point/prefix reads, no fsync).

#include <algorithm>
#include <chrono>

#include "broker/group/coordinator_impl.h"
#include "spdlog/spdlog.h"

namespace sluice::broker {

using group::Group;
using group::GroupState;
using group::Member;
using group::OffsetKey;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::Status GroupCoordinator::Impl::EnsureOffsetsLoaded(Group& g) {
  if (g.offsets) return absl::OkStatus();
  group::OffsetMap loaded;
  if (!deleting_.contains(g.id)) {
    auto stored = store_.GetGroupOffsets(g.id);
    if (!stored.ok()) return stored.status();
    for (auto& o : *stored) {
      OffsetKey key{o.topic, o.partition};
      loaded.emplace(std::move(key), std::move(o));
    }
  }
  g.offsets = std::move(loaded);
  return absl::OkStatus();
}

absl::StatusOr<GroupCoordinator::Impl::GroupPtr> GroupCoordinator::Impl::FindOrLoadGroup(
    const std::string& id) {
  if (auto it = groups_.find(id); it != groups_.end()) return it->second;
  if (deleting_.contains(id)) return GroupPtr();
  auto stored = store_.GetGroupOffsets(id);
  if (!stored.ok()) return stored.status();
  if (stored->empty()) return GroupPtr();
  // Kafka loads every group that has offsets as Empty; we do it on first use.
  Group& g = CreateGroup(id);
  g.offsets.emplace();
  for (auto& o : *stored) {
    OffsetKey key{o.topic, o.partition};
    g.offsets->emplace(std::move(key), std::move(o));
  }
  return groups_.at(id);
}

// ---------------------------------------------------------------------------------------------
// OffsetCommit / OffsetFetch

void GroupCoordinator::Impl::DoOffsetCommit(OffsetCommitRequest req,
                                            std::function<void(OffsetCommitResult)> done) {
  if (shut_down_) return done({GroupError::kCoordinatorNotAvailable});
  if (!group::IsValidGroupId(req.group_id)) return done({GroupError::kInvalidGroupId});

  Group* g = FindGroup(req.group_id);
  if (req.generation_id < 0) {
    // A commit outside group management (admin tools, self-assigning consumers): only while no
    // member could be committing the same partitions under a generation.
    if (g != nullptr && !g->members.empty()) return done({GroupError::kIllegalGeneration});
    if (g == nullptr) g = &CreateGroup(req.group_id);
  } else {
    // Kafka's order of checks. A group we do not know cannot have issued this generation.
    if (g == nullptr) return done({GroupError::kIllegalGeneration});
    if (g->state == GroupState::kCompletingRebalance) {
      return done({GroupError::kRebalanceInProgress});
    }
    Member* m = g->FindMember(req.member_id);
    if (m == nullptr) return done({GroupError::kUnknownMemberId});
    if (req.generation_id != g->generation) return done({GroupError::kIllegalGeneration});
    ResetSessionTimer(*g, *m);
  }

  // Loaded before the write is issued, so completions apply to a cache that already reflects the
  // store, in the order the writes were made.
  if (absl::Status s = EnsureOffsetsLoaded(*g); !s.ok()) {
    spdlog::warn("group {}: cannot load committed offsets: {}", g->id, s.ToString());
    return done({GroupError::kStorageError});
  }
  if (req.offsets.empty()) return done({GroupError::kNone});

  std::vector<storage::CommittedOffset> offsets;
  offsets.reserve(req.offsets.size());
  int64_t now = NowMs();
  for (auto& o : req.offsets) {
    offsets.push_back({std::move(o.topic), o.partition, o.offset, std::move(o.metadata), now});
  }
  // The write syncs RocksDB's WAL: do it on the storage thread, never on the strand.
  asio::post(storage_thread_, [self = shared_from_this(), g = g->shared_from_this(),
                               offsets = std::move(offsets), done = std::move(done)]() mutable {
    absl::Status s = self->store_.PutGroupOffsets(g->id, offsets);
    Impl& impl = *self;
    asio::post(impl.strand_, [self = std::move(self), g = std::move(g),
                              offsets = std::move(offsets), s = std::move(s),
                              done = std::move(done)]() mutable {
      self->FinishCommit(g, offsets, s, std::move(done));
    });
  });
}

void GroupCoordinator::Impl::FinishCommit(const GroupPtr& g,
                                          const std::vector<storage::CommittedOffset>& offsets,
                                          const absl::Status& s,
                                          std::function<void(OffsetCommitResult)> done) {
  if (!s.ok()) {
    spdlog::warn("group {}: offset commit of {} partitions failed: {}", g->id, offsets.size(),
                 s.ToString());
    return done({GroupError::kStorageError});
  }
  // Loaded before the write was issued (DoOffsetCommit) unless a failed delete has since dropped
  // the cache, in which case the next load reads this write from the store.
  if (g->offsets) {
    for (const auto& o : offsets) (*g->offsets)[OffsetKey{o.topic, o.partition}] = o;
  }
  done({GroupError::kNone});
}

void GroupCoordinator::Impl::DoOffsetFetch(OffsetFetchRequest req,
                                           std::function<void(OffsetFetchResult)> done) {
  OffsetFetchResult result;
  if (shut_down_) {
    result.error = GroupError::kCoordinatorNotAvailable;
    return done(std::move(result));
  }
  if (!group::IsValidGroupId(req.group_id)) {
    result.error = GroupError::kInvalidGroupId;
    return done(std::move(result));
  }
  auto g = FindOrLoadGroup(req.group_id);
  absl::Status s = g.ok() ? absl::OkStatus() : g.status();
  if (s.ok() && *g) s = EnsureOffsetsLoaded(**g);
  if (!s.ok()) {
    spdlog::warn("group {}: cannot read committed offsets: {}", req.group_id, s.ToString());
    result.error = GroupError::kStorageError;
    return done(std::move(result));
  }
  static const group::OffsetMap kNoOffsets;
  const group::OffsetMap& committed = *g ? *(*g)->offsets : kNoOffsets;
  if (req.partitions.empty()) {
    for (const auto& [key, o] : committed) {
      result.offsets.push_back({o.topic, o.partition, o.offset, o.metadata});
    }
  } else {
    for (auto& [topic, partition] : req.partitions) {
      auto it = committed.find(OffsetKey{topic, partition});
      if (it == committed.end()) {
        result.offsets.push_back({std::move(topic), partition, -1, {}});
      } else {
        result.offsets.push_back({std::move(topic), partition, it->second.offset,
                                  it->second.metadata});
      }
    }
  }
  done(std::move(result));
}

// ---------------------------------------------------------------------------------------------
// ListGroups / DescribeGroups / DeleteGroups

void GroupCoordinator::Impl::DoListGroups(std::function<void(std::vector<GroupListing>)> done) {
  std::vector<GroupListing> out;
  if (shut_down_) return done(std::move(out));
  for (const auto& [id, g] : groups_) {
    out.push_back({id, g->protocol_type, std::string(group::GroupStateName(g->state))});
  }
  auto stored = store_.ListOffsetGroups();
  if (!stored.ok()) {
    spdlog::warn("cannot list groups with committed offsets: {}", stored.status().ToString());
  } else {
    for (auto& id : *stored) {
      if (!groups_.contains(id) && !deleting_.contains(id)) {
        out.push_back({std::move(id), {}, std::string(group::GroupStateName(GroupState::kEmpty))});
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const GroupListing& a, const GroupListing& b) { return a.group_id < b.group_id; });
  done(std::move(out));
}

GroupDescription GroupCoordinator::Impl::Describe(const std::string& id) {
  GroupDescription d;
  d.group_id = id;
  d.state = std::string(group::GroupStateName(GroupState::kDead));
  if (!group::IsValidGroupId(id)) {
    d.error = GroupError::kInvalidGroupId;
    return d;
  }
  auto found = FindOrLoadGroup(id);
  if (!found.ok()) {
    spdlog::warn("group {}: cannot read committed offsets: {}", id, found.status().ToString());
    d.error = GroupError::kStorageError;
    return d;
  }
  if (!*found) return d;  // Kafka describes an unknown group as Dead, without an error
  Group& g = **found;
  d.state = std::string(group::GroupStateName(g.state));
  d.protocol_type = g.protocol_type;
  d.protocol = g.protocol;
  d.generation_id = g.generation;
  for (const Member* m : g.MembersInJoinOrder()) {
    const std::string* md = m->MetadataFor(g.protocol);
    d.members.push_back(
        {m->id, m->client_id, m->client_host, md ? *md : std::string(), m->assignment});
  }
  if (absl::Status s = EnsureOffsetsLoaded(g); !s.ok()) {
    spdlog::warn("group {}: cannot read committed offsets: {}", id, s.ToString());
    d.error = GroupError::kStorageError;
    return d;
  }
  for (const auto& [key, o] : *g.offsets) {
    std::optional<int64_t> hw = high_watermark_ ? high_watermark_(o.topic, o.partition)
                                                : std::nullopt;
    if (!hw) continue;  // the partition is gone
    d.offsets.push_back({o.topic, o.partition, o.offset, *hw, std::max<int64_t>(0, *hw - o.offset)});
  }
  return d;
}

void GroupCoordinator::Impl::DoDescribeGroups(
    std::vector<std::string> group_ids, std::function<void(std::vector<GroupDescription>)> done) {
  std::vector<GroupDescription> out;
  out.reserve(group_ids.size());
  for (auto& id : group_ids) {
    if (shut_down_) {
      GroupDescription d;
      d.group_id = std::move(id);
      d.error = GroupError::kCoordinatorNotAvailable;
      d.state = std::string(group::GroupStateName(GroupState::kDead));
      out.push_back(std::move(d));
    } else {
      out.push_back(Describe(id));
    }
  }
  done(std::move(out));
}

void GroupCoordinator::Impl::DoDeleteGroups(
    std::vector<std::string> group_ids,
    std::function<void(std::vector<std::pair<std::string, GroupError>>)> done) {
  std::vector<std::pair<std::string, GroupError>> results;
  results.reserve(group_ids.size());
  std::vector<size_t> to_delete;  // indexes into results
  for (auto& id : group_ids) {
    GroupError e = GroupError::kNone;
    if (shut_down_) {
      e = GroupError::kCoordinatorNotAvailable;
    } else if (!group::IsValidGroupId(id)) {
      e = GroupError::kInvalidGroupId;
    } else if (auto g = FindOrLoadGroup(id); !g.ok()) {
      spdlog::warn("group {}: cannot read committed offsets: {}", id, g.status().ToString());
      e = GroupError::kStorageError;
    } else if (!*g) {
      e = GroupError::kGroupIdNotFound;
    } else if ((*g)->state != GroupState::kEmpty) {
      e = GroupError::kNonEmptyGroup;
    } else {
      // Gone from memory now; until the store delete completes, loads of this id see no offsets.
      groups_.erase(id);
      ++deleting_[id];
      to_delete.push_back(results.size());
    }
    results.emplace_back(std::move(id), e);
  }
  if (to_delete.empty()) return done(std::move(results));

  std::vector<std::string> ids;
  for (size_t i : to_delete) ids.push_back(results[i].first);
  asio::post(storage_thread_, [self = shared_from_this(), ids = std::move(ids),
                               to_delete = std::move(to_delete), results = std::move(results),
                               done = std::move(done)]() mutable {
    std::vector<absl::Status> statuses;
    for (const auto& id : ids) statuses.push_back(self->store_.DeleteGroupOffsets(id));
    Impl& impl = *self;
    asio::post(impl.strand_, [self = std::move(self), to_delete = std::move(to_delete),
                              results = std::move(results), statuses = std::move(statuses),
                              done = std::move(done)]() mutable {
      for (size_t k = 0; k < to_delete.size(); ++k) {
        const std::string& id = results[to_delete[k]].first;
        if (--self->deleting_[id] == 0) self->deleting_.erase(id);
        if (statuses[k].ok()) {
          spdlog::info("group {} deleted", id);
          continue;
        }
        spdlog::warn("group {}: deleting committed offsets failed: {}", id,
                     statuses[k].ToString());
        results[to_delete[k]].second = GroupError::kStorageError;
        // The stored offsets survived. A group recreated meanwhile loaded none of them: merge
        // back those it has not overwritten since.
        Group* g = self->FindGroup(id);
        if (g == nullptr || !g->offsets) continue;
        auto stored = self->store_.GetGroupOffsets(id);
        if (!stored.ok()) {
          g->offsets.reset();  // reload on next use
          continue;
        }
        for (auto& o : *stored) {
          OffsetKey key{o.topic, o.partition};
          g->offsets->try_emplace(std::move(key), std::move(o));
        }
      }
      done(std::move(results));
    });
  });
}

}  // namespace sluice::broker
