#include "client/src/subscription_state.h"

#include <gtest/gtest.h>

namespace sluice::client {
namespace {

ConsumerRecord Rec(const TopicPartition& tp, int64_t offset) {
  ConsumerRecord r;
  r.topic = tp.topic;
  r.partition = tp.partition;
  r.offset = offset;
  return r;
}

class SubscriptionStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_.SetAssignment({a_, b_});
    state_.SetPositionIfUnknown(a_, 10);
    state_.SetPositionIfUnknown(b_, 0);
    state_.AddRecords(a_, {Rec(a_, 10), Rec(a_, 11), Rec(a_, 12)});
    state_.AddRecords(b_, {Rec(b_, 0)});
  }
  const TopicPartition a_{"t", 0};
  const TopicPartition b_{"t", 1};
  SubscriptionState state_;
};

TEST_F(SubscriptionStateTest, DrainAdvancesPositionsAndRotatesTheFirstPartition) {
  auto first = state_.Drain(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].offset, 10);
  EXPECT_EQ(first[1].offset, 11);
  EXPECT_EQ(*state_.Find(a_)->position, 12);
  // The next drain starts with the other partition.
  auto second = state_.Drain(10);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].partition, 1);
  EXPECT_EQ(second[1].offset, 12);
  EXPECT_EQ(state_.Positions(), (OffsetMap{{a_, {13, ""}}, {b_, {1, ""}}}));
  EXPECT_EQ(state_.Fetchable(), (std::vector<TopicPartition>{a_, b_}));
}

TEST_F(SubscriptionStateTest, PausedAndFrozenPartitionsAreNotDrainedOrFetched) {
  state_.SetPaused(a_, true);
  auto r = state_.Drain(10);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].partition, 1);
  EXPECT_EQ(state_.Fetchable(), std::vector<TopicPartition>{b_});
  state_.set_frozen(true);
  state_.SetPaused(a_, false);
  EXPECT_TRUE(state_.Drain(10).empty());
  EXPECT_TRUE(state_.Fetchable().empty());
}

TEST_F(SubscriptionStateTest, SeekAndResetDropTheBufferAndBumpTheEpoch) {
  const uint64_t epoch = state_.Find(a_)->epoch;
  EXPECT_TRUE(state_.Seek(a_, 3));
  EXPECT_TRUE(state_.Find(a_)->buffered.empty());
  EXPECT_EQ(state_.Find(a_)->epoch, epoch + 1);
  EXPECT_EQ(*state_.Find(a_)->position, 3);
  state_.RequestReset(b_);
  EXPECT_EQ(state_.NeedingReset(), std::vector<TopicPartition>{b_});
  state_.SetPositionIfUnknown(b_, 99);  // a reset pending wins over a committed-offset lookup
  state_.CompleteReset(b_, 0);
  EXPECT_EQ(*state_.Find(b_)->position, 0);
  EXPECT_FALSE(state_.Seek({"other", 0}, 1));
  state_.SetAssignment({{"t", 2}});
  EXPECT_EQ(state_.NeedingPosition(), (std::vector<TopicPartition>{{"t", 2}}));
}

}  // namespace
}  // namespace sluice::client
