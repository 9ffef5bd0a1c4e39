#include "client/src/assignor.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace sluice::client {
namespace {

// Members in id order, each with an empty entry in the result.
std::vector<const MemberSubscription*> Sorted(const std::vector<MemberSubscription>& members,
                                              GroupAssignment* out) {
  std::vector<const MemberSubscription*> sorted;
  for (const auto& m : members) {
    sorted.push_back(&m);
    (*out)[m.member_id];
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->member_id < b->member_id; });
  return sorted;
}

bool Subscribes(const MemberSubscription& m, const std::string& topic) {
  return std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end();
}

// Every partition of the topics someone subscribes to and that exist, in (topic, partition)
// order.
std::vector<TopicPartition> AllPartitions(const PartitionCounts& counts,
                                          const std::vector<MemberSubscription>& members) {
  std::set<std::string> topics;
  for (const auto& m : members) topics.insert(m.topics.begin(), m.topics.end());
  std::vector<TopicPartition> out;
  for (const auto& t : topics) {
    auto it = counts.find(t);
    if (it == counts.end()) continue;
    for (int32_t p = 0; p < it->second; ++p) out.push_back({t, p});
  }
  return out;
}

void SortEach(GroupAssignment* a) {
  for (auto& [m, tps] : *a) std::sort(tps.begin(), tps.end());
}

}  // namespace

GroupAssignment RangeAssign(const PartitionCounts& counts,
                            const std::vector<MemberSubscription>& members) {
  GroupAssignment out;
  const auto sorted = Sorted(members, &out);
  for (const auto& [topic, n] : counts) {
    std::vector<const MemberSubscription*> subscribed;
    for (const auto* m : sorted) {
      if (Subscribes(*m, topic)) subscribed.push_back(m);
    }
    if (subscribed.empty()) continue;
    const int32_t m = static_cast<int32_t>(subscribed.size());
    const int32_t per = n / m;
    const int32_t extra = n % m;
    for (int32_t i = 0; i < m; ++i) {
      const int32_t start = per * i + std::min(i, extra);
      const int32_t length = per + (i < extra ? 1 : 0);
      for (int32_t p = start; p < start + length; ++p) {
        out[subscribed[i]->member_id].push_back({topic, p});
      }
    }
  }
  SortEach(&out);
  return out;
}

GroupAssignment RoundRobinAssign(const PartitionCounts& counts,
                                 const std::vector<MemberSubscription>& members) {
  GroupAssignment out;
  const auto sorted = Sorted(members, &out);
  if (sorted.empty()) return out;
  size_t next = 0;
  for (const auto& tp : AllPartitions(counts, members)) {
    // Someone subscribes to tp.topic (AllPartitions only lists such topics), so this ends.
    while (!Subscribes(*sorted[next], tp.topic)) next = (next + 1) % sorted.size();
    out[sorted[next]->member_id].push_back(tp);
    next = (next + 1) % sorted.size();
  }
  SortEach(&out);
  return out;
}

GroupAssignment StickyAssign(const PartitionCounts& counts,
                             const std::vector<MemberSubscription>& members) {
  GroupAssignment out;
  const auto sorted = Sorted(members, &out);
  if (sorted.empty()) return out;
  const auto all = AllPartitions(counts, members);
  const std::set<TopicPartition> exists(all.begin(), all.end());

  // Who may keep what: valid partitions, the higher generation winning a double claim.
  std::map<TopicPartition, const MemberSubscription*> claim;
  for (const auto* m : sorted) {
    for (const auto& tp : m->owned) {
      if (!exists.count(tp) || !Subscribes(*m, tp.topic)) continue;
      auto [it, inserted] = claim.emplace(tp, m);
      if (!inserted && m->generation > it->second->generation) it->second = m;
    }
  }
  std::map<std::string, std::vector<TopicPartition>> keepable;
  for (const auto& [tp, m] : claim) keepable[m->member_id].push_back(tp);  // sorted by tp

  const size_t base = all.size() / sorted.size();
  size_t extra = all.size() % sorted.size();
  std::set<TopicPartition> taken;
  for (const auto* m : sorted) {
    const auto& mine = keepable[m->member_id];
    size_t keep = std::min(mine.size(), base);
    if (mine.size() > base && extra > 0) {
      ++keep;
      --extra;
    }
    for (size_t i = 0; i < keep; ++i) {
      out[m->member_id].push_back(mine[i]);
      taken.insert(mine[i]);
    }
  }
  for (const auto& tp : all) {
    if (taken.count(tp)) continue;
    const MemberSubscription* best = nullptr;
    for (const auto* m : sorted) {
      if (!Subscribes(*m, tp.topic)) continue;
      if (best == nullptr || out[m->member_id].size() < out[best->member_id].size()) best = m;
    }
    if (best != nullptr) out[best->member_id].push_back(tp);
  }
  SortEach(&out);
  return out;
}

absl::StatusOr<GroupAssignment> Assign(std::string_view name, const PartitionCounts& counts,
                                       const std::vector<MemberSubscription>& members) {
  if (name == "range") return RangeAssign(counts, members);
  if (name == "roundrobin") return RoundRobinAssign(counts, members);
  if (name == "cooperative-sticky") return StickyAssign(counts, members);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown assignor '", absl::string_view(name.data(), name.size()), "'"));
}

}  // namespace sluice::client
