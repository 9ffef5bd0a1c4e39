#pragma once
// Partition assignors the group leader runs to split the subscribed topics' partitions among the
// members. Pure functions; the output is deterministic and lists each member's partitions in
// (topic, partition) order, with an entry (possibly empty) for every member.
//
//   "range"       Kafka's RangeAssignor: per topic, the members subscribed to it in member-id
//                 order get contiguous ranges; the first (partitions % members) get one extra.
//   "roundrobin"  Kafka's RoundRobinAssignor: every partition of every subscribed topic, sorted
//                 by (topic, partition), dealt in member-id order to the next member subscribed
//                 to its topic.
//   "cooperative-sticky"  A simplified sticky assignor (used with eager rebalancing: every
//                 member gives up its partitions before rejoining, so there is no incremental
//                 second round as in Kafka's CooperativeStickyAssignor). It keeps each member's
//                 previously owned partitions up to a balanced quota (floor(P/M), with the
//                 P % M extra slots going to members in id order that own more than the floor),
//                 and deals the rest, in (topic, partition) order, each to the subscribed member
//                 with the fewest partitions (ties: lowest member id). A partition claimed by two
//                 members goes to the one with the higher generation. Balance is exact when all
//                 members subscribe to the same topics and approximate otherwise; Kafka's
//                 algorithm also minimises movement across uneven subscriptions, which this
//                 does not attempt.
//
// Example:
//   GroupAssignment a = RangeAssign({{"t", 3}}, {{.member_id = "a", .topics = {"t"}},
//                                               {.member_id = "b", .topics = {"t"}}});
//   // a["a"] == {t-0, t-1}, a["b"] == {t-2}

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/types.h"

namespace sluice::client {

struct MemberSubscription {
  std::string member_id;
  std::vector<std::string> topics;
  std::vector<TopicPartition> owned;  // previous assignment (sticky only)
  int32_t generation = -1;            // of `owned`
};

using PartitionCounts = std::map<std::string, int32_t>;                      // topic -> partitions
using GroupAssignment = std::map<std::string, std::vector<TopicPartition>>;  // member -> tps

GroupAssignment RangeAssign(const PartitionCounts& counts,
                            const std::vector<MemberSubscription>& members);
GroupAssignment RoundRobinAssign(const PartitionCounts& counts,
                                 const std::vector<MemberSubscription>& members);
GroupAssignment StickyAssign(const PartitionCounts& counts,
                             const std::vector<MemberSubscription>& members);

// Dispatches on the protocol name; InvalidArgument for an unknown one.
absl::StatusOr<GroupAssignment> Assign(std::string_view name, const PartitionCounts& counts,
                                       const std::vector<MemberSubscription>& members);

}  // namespace sluice::client
