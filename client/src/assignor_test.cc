#include "client/src/assignor.h"

#include <gtest/gtest.h>

namespace sluice::client {
namespace {

using TPs = std::vector<TopicPartition>;

MemberSubscription M(std::string id, std::vector<std::string> topics, TPs owned = {},
                     int32_t generation = 1) {
  return {std::move(id), std::move(topics), std::move(owned), generation};
}

// Kafka's RangeAssignor javadoc example: two consumers, two topics of three partitions.
TEST(RangeAssignorTest, KafkaDocumentationExample) {
  auto a = RangeAssign({{"t0", 3}, {"t1", 3}}, {M("C1", {"t0", "t1"}), M("C0", {"t0", "t1"})});
  EXPECT_EQ(a["C0"], (TPs{{"t0", 0}, {"t0", 1}, {"t1", 0}, {"t1", 1}}));
  EXPECT_EQ(a["C1"], (TPs{{"t0", 2}, {"t1", 2}}));
}

TEST(RangeAssignorTest, PerTopicRangesOverItsSubscribersOnly) {
  auto a = RangeAssign({{"t0", 3}, {"t1", 2}, {"unused", 4}},
                       {M("a", {"t0"}), M("b", {"t0", "t1"}), M("c", {"missing"})});
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(a["a"], (TPs{{"t0", 0}, {"t0", 1}}));
  EXPECT_EQ(a["b"], (TPs{{"t0", 2}, {"t1", 0}, {"t1", 1}}));
  EXPECT_EQ(a["c"], TPs{});
}

TEST(RangeAssignorTest, MoreMembersThanPartitions) {
  auto a = RangeAssign({{"t", 2}}, {M("a", {"t"}), M("b", {"t"}), M("c", {"t"})});
  EXPECT_EQ(a["a"], (TPs{{"t", 0}}));
  EXPECT_EQ(a["b"], (TPs{{"t", 1}}));
  EXPECT_EQ(a["c"], TPs{});
}

// Kafka's RoundRobinAssignor javadoc examples.
TEST(RoundRobinAssignorTest, KafkaDocumentationIdenticalSubscriptions) {
  auto a = RoundRobinAssign({{"t0", 3}, {"t1", 3}}, {M("C0", {"t0", "t1"}), M("C1", {"t0", "t1"})});
  EXPECT_EQ(a["C0"], (TPs{{"t0", 0}, {"t0", 2}, {"t1", 1}}));
  EXPECT_EQ(a["C1"], (TPs{{"t0", 1}, {"t1", 0}, {"t1", 2}}));
}

TEST(RoundRobinAssignorTest, KafkaDocumentationDifferentSubscriptions) {
  auto a = RoundRobinAssign({{"t0", 1}, {"t1", 2}, {"t2", 3}},
                            {M("C2", {"t0", "t1", "t2"}), M("C0", {"t0"}), M("C1", {"t0", "t1"})});
  EXPECT_EQ(a["C0"], (TPs{{"t0", 0}}));
  EXPECT_EQ(a["C1"], (TPs{{"t1", 0}}));
  EXPECT_EQ(a["C2"], (TPs{{"t1", 1}, {"t2", 0}, {"t2", 1}, {"t2", 2}}));
}

TEST(StickyAssignorTest, FreshGroupIsDealtToTheLeastLoaded) {
  auto a = StickyAssign({{"t", 7}}, {M("a", {"t"}), M("b", {"t"}), M("c", {"t"})});
  EXPECT_EQ(a["a"], (TPs{{"t", 0}, {"t", 3}, {"t", 6}}));
  EXPECT_EQ(a["b"], (TPs{{"t", 1}, {"t", 4}}));
  EXPECT_EQ(a["c"], (TPs{{"t", 2}, {"t", 5}}));
}

TEST(StickyAssignorTest, JoiningMemberTakesOnlyWhatBalanceRequires) {
  auto a = StickyAssign({{"t", 7}}, {M("a", {"t"}, {{"t", 0}, {"t", 3}, {"t", 6}}),
                                     M("b", {"t"}, {{"t", 1}, {"t", 4}}),
                                     M("c", {"t"}, {{"t", 2}, {"t", 5}}), M("d", {"t"})});
  EXPECT_EQ(a["a"], (TPs{{"t", 0}, {"t", 3}}));
  EXPECT_EQ(a["b"], (TPs{{"t", 1}, {"t", 4}}));
  EXPECT_EQ(a["c"], (TPs{{"t", 2}, {"t", 5}}));
  EXPECT_EQ(a["d"], (TPs{{"t", 6}}));
}

TEST(StickyAssignorTest, LeavingMembersPartitionsAreSpreadAndOthersStay) {
  auto a = StickyAssign({{"t", 7}},
                        {M("a", {"t"}, {{"t", 0}, {"t", 3}}), M("b", {"t"}, {{"t", 1}, {"t", 4}}),
                         M("c", {"t"}, {{"t", 2}, {"t", 5}})});
  EXPECT_EQ(a["a"], (TPs{{"t", 0}, {"t", 3}, {"t", 6}}));
  EXPECT_EQ(a["b"], (TPs{{"t", 1}, {"t", 4}}));
  EXPECT_EQ(a["c"], (TPs{{"t", 2}, {"t", 5}}));
}

TEST(StickyAssignorTest, HigherGenerationWinsADoubleClaimAndInvalidClaimsAreDropped) {
  auto a = StickyAssign({{"t", 2}, {"u", 1}},
                        {M("a", {"t"}, {{"t", 0}, {"gone", 0}, {"u", 0}}, /*generation=*/1),
                         M("b", {"t", "u"}, {{"t", 0}, {"t", 9}}, /*generation=*/2)});
  // b keeps t-0 (newer generation); a's claims on a deleted topic and on u (not subscribed)
  // are ignored; t-1 and u-0 go to the least loaded subscribers.
  EXPECT_EQ(a["b"], (TPs{{"t", 0}, {"u", 0}}));
  EXPECT_EQ(a["a"], (TPs{{"t", 1}}));
}

TEST(AssignTest, DispatchesByNameAndRejectsUnknown) {
  auto a = Assign("roundrobin", {{"t", 2}}, {M("x", {"t"}), M("y", {"t"})});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)["y"], (TPs{{"t", 1}}));
  EXPECT_EQ(Assign("sticky-ish", {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::client
