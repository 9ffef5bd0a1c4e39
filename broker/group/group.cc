#include "broker/group/group.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <set>

namespace sluice::broker::group {

std::string_view GroupStateName(GroupState s) {
  switch (s) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Dead";
}

bool IsValidGroupId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxGroupIdBytes && id.find('\0') == std::string_view::npos;
}

std::string NewMemberId(std::string_view client_id) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng();
  uint64_t lo = rng();
  char uuid[37];
  std::snprintf(uuid, sizeof(uuid), "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64
                "-%012" PRIx64,
                hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & uint64_t{0xffffffffffff});
  std::string id(client_id);
  id += '-';
  id += uuid;
  return id;
}

const std::string* Member::MetadataFor(std::string_view protocol) const {
  for (const auto& p : protocols) {
    if (p.name == protocol) return &p.metadata;
  }
  return nullptr;
}

bool Member::Matches(const std::vector<GroupProtocol>& other) const {
  return std::equal(protocols.begin(), protocols.end(), other.begin(), other.end(),
                    [](const GroupProtocol& a, const GroupProtocol& b) {
                      return a.name == b.name && a.metadata == b.metadata;
                    });
}

Member* Group::FindMember(const std::string& member_id) const {
  auto it = members.find(member_id);
  return it == members.end() ? nullptr : it->second.get();
}

std::vector<Member*> Group::MembersInJoinOrder() const {
  std::vector<Member*> out;
  out.reserve(members.size());
  for (const auto& [id, m] : members) out.push_back(m.get());
  std::sort(out.begin(), out.end(),
            [](const Member* a, const Member* b) { return a->join_seq < b->join_seq; });
  return out;
}

std::string Group::FirstMemberId() const {
  const Member* first = nullptr;
  for (const auto& [id, m] : members) {
    if (first == nullptr || m->join_seq < first->join_seq) first = m.get();
  }
  return first ? first->id : std::string();
}

bool Group::AllMembersJoined() const {
  return std::all_of(members.begin(), members.end(),
                     [](const auto& kv) { return static_cast<bool>(kv.second->join_done); });
}

int32_t Group::RebalanceTimeoutMs() const {
  int32_t t = 0;
  for (const auto& [id, m] : members) t = std::max(t, m->rebalance_timeout_ms);
  return t;
}

bool Group::SupportsProtocols(const std::string& member_id, const std::string& type,
                              const std::vector<GroupProtocol>& protocols) const {
  if (type.empty() || protocols.empty()) return false;
  bool has_others = false;
  for (const auto& [id, m] : members) {
    if (id != member_id) has_others = true;
  }
  if (!has_others) return true;
  if (type != protocol_type) return false;
  return std::any_of(protocols.begin(), protocols.end(), [&](const GroupProtocol& p) {
    return std::all_of(members.begin(), members.end(), [&](const auto& kv) {
      return kv.first == member_id || kv.second->MetadataFor(p.name) != nullptr;
    });
  });
}

std::string Group::SelectProtocol() const {
  std::vector<Member*> ordered = MembersInJoinOrder();
  // Invariant: every join is checked by SupportsProtocols, so the members always share at least
  // one protocol.
  std::set<std::string> candidates;
  for (const auto& p : ordered.front()->protocols) candidates.insert(p.name);
  for (const Member* m : ordered) {
    std::erase_if(candidates, [m](const std::string& name) { return !m->MetadataFor(name); });
  }
  if (candidates.empty()) return ordered.front()->protocols.front().name;

  std::map<std::string, int> votes;
  for (const Member* m : ordered) {
    for (const auto& p : m->protocols) {
      if (candidates.count(p.name)) {
        ++votes[p.name];
        break;
      }
    }
  }
  const Member* leader = FindMember(leader_id);
  if (leader == nullptr) leader = ordered.front();
  std::string best;
  int best_votes = -1;
  for (const auto& p : leader->protocols) {  // the leader's order breaks ties
    auto it = votes.find(p.name);
    int v = it == votes.end() ? 0 : it->second;
    if (candidates.count(p.name) && v > best_votes) {
      best = p.name;
      best_votes = v;
    }
  }
  return best;
}

}  // namespace sluice::broker::group
