#include "client/src/partitioner.h"

#include <gtest/gtest.h>

#include <set>

namespace sluice::client {
namespace {

// Vectors from Apache Kafka's UtilsTest.testMurmur2 (clients/src/test/.../utils/UtilsTest.java).
TEST(Murmur2Test, MatchesKafkaUtilsTestVectors) {
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2("abc"), 479470107);
}

TEST(Murmur2Test, EmptyInputHashesTheSeedOnly) {
  // h = seed ^ 0, then the final mix; stable across implementations.
  EXPECT_EQ(Murmur2(""), Murmur2(std::string_view()));
}

TEST(KeyPartitionTest, MasksTheSignBitLikeJava) {
  // murmur2("21") is negative: toPositive clears the sign bit rather than negating.
  EXPECT_EQ(ToPositive(-973932308), -973932308 & 0x7fffffff);
  EXPECT_EQ(ToPositive(INT32_MIN), 0);
  EXPECT_EQ(KeyPartition("21", 7), (-973932308 & 0x7fffffff) % 7);
  EXPECT_EQ(KeyPartition("foobar", 3), (-790332482 & 0x7fffffff) % 3);
  EXPECT_EQ(KeyPartition("abc", 10), 479470107 % 10);
  EXPECT_EQ(KeyPartition("abc", 1), 0);
}

TEST(StickyPartitionerTest, SticksUntilTheBatchIsDoneThenMovesElsewhere) {
  StickyPartitioner sticky(/*seed=*/42);
  const int32_t first = sticky.Partition("t", 5);
  ASSERT_GE(first, 0);
  ASSERT_LT(first, 5);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sticky.Partition("t", 5), first);
  // A batch of another partition completing changes nothing.
  sticky.OnBatchDone("t", (first + 1) % 5, 5);
  EXPECT_EQ(sticky.Partition("t", 5), first);
  // The sticky partition's batch completing moves it, always to a different partition.
  int32_t current = first;
  std::set<int32_t> seen{first};
  for (int i = 0; i < 50; ++i) {
    sticky.OnBatchDone("t", current, 5);
    const int32_t next = sticky.Partition("t", 5);
    EXPECT_NE(next, current);
    current = next;
    seen.insert(next);
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(StickyPartitionerTest, SinglePartitionTopicsStayOnZero) {
  StickyPartitioner sticky(7);
  EXPECT_EQ(sticky.Partition("one", 1), 0);
  sticky.OnBatchDone("one", 0, 1);
  EXPECT_EQ(sticky.Partition("one", 1), 0);
}

TEST(StickyPartitionerTest, TopicsAreIndependentAndShrinkingRepicks) {
  StickyPartitioner sticky(3);
  const int32_t a = sticky.Partition("a", 8);
  const int32_t b = sticky.Partition("b", 8);
  sticky.OnBatchDone("b", b, 8);
  EXPECT_EQ(sticky.Partition("a", 8), a);
  // If metadata shrinks below the sticky partition, a valid one is picked.
  const int32_t p = sticky.Partition("a", 1);
  EXPECT_EQ(p, 0);
}

}  // namespace
}  // namespace sluice::client
