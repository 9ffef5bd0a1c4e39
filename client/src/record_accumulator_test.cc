#include "client/src/record_accumulator.h"

#include <gtest/gtest.h>

namespace sluice::client {
namespace {

using namespace std::chrono_literals;

class RecordAccumulatorTest : public ::testing::Test {
 protected:
  RecordAccumulator::AppendResult Append(RecordAccumulator& acc, const TopicPartition& tp,
                                         const std::string& value, Clock::time_point now) {
    Record r;
    r.topic = tp.topic;
    r.value = value;
    RecordCompletion c;
    c.timestamp_ms = 1000;
    return acc.Append(tp, std::nullopt, value, {}, std::move(c), EstimateRecordSize(r), now);
  }
  const TopicPartition tp0_{"t", 0};
  const TopicPartition tp1_{"t", 1};
  const Clock::time_point t0_ = Clock::time_point() + 1h;
};

TEST_F(RecordAccumulatorTest, EstimateCoversTheEncodedRecord) {
  Record r;
  r.topic = "t";
  r.key = "k";
  r.value = std::string(100, 'v');
  r.headers.push_back({"h", "x"});
  storage::RecordBatchBuilder b;
  const storage::RecordBatchBuilder::Header h{"h", "x"};
  b.Add("k", r.value, {&h, 1}, 0);
  EXPECT_GE(EstimateRecordSize(r), b.size_bytes() - storage::kBatchHeaderSize);
  // 26 record overhead + 2 length prefixes of 5, key, value, header (2 prefixes + bytes).
  EXPECT_EQ(EstimateRecordSize(r), 26u + 10u + 1u + 100u + 10u + 1u + 1u);
}

TEST_F(RecordAccumulatorTest, LingersUntilLingerThenReady) {
  RecordAccumulator acc({.batch_size = 1000, .linger = 10ms, .delivery_timeout = 60s});
  Append(acc, tp0_, "a", t0_);
  auto r = acc.Ready(t0_ + 5ms, false);
  EXPECT_TRUE(r.ready.empty());
  ASSERT_TRUE(r.next_check.has_value());
  EXPECT_EQ(*r.next_check, t0_ + 10ms);
  r = acc.Ready(t0_ + 10ms, false);
  EXPECT_EQ(r.ready, std::vector<TopicPartition>{tp0_});
  // A flush makes it ready at once.
  EXPECT_EQ(acc.Ready(t0_, true).ready, std::vector<TopicPartition>{tp0_});
}

TEST_F(RecordAccumulatorTest, FullBatchIsReadyBeforeLingerAndNextRecordStartsANewOne) {
  // Each 60-byte value reserves 26 + 2*5 + 60 = 96 bytes and encodes to 68 (a 2-byte length
  // varint, 6 bytes of fields, the value); the batch header is 61.
  RecordAccumulator acc({.batch_size = 250, .linger = 1h, .delivery_timeout = 2h});
  const std::string v(60, 'x');
  EXPECT_TRUE(Append(acc, tp0_, v, t0_).new_batch);   // 61 + 68 = 129 bytes
  EXPECT_FALSE(Append(acc, tp0_, v, t0_).new_batch);  // 129 + 96 <= 250: 197 bytes
  auto third = Append(acc, tp0_, v, t0_);             // 197 + 96 > 250: a new batch
  EXPECT_TRUE(third.new_batch);
  EXPECT_TRUE(third.batch_full);
  EXPECT_EQ(acc.batch_count(), 2u);
  EXPECT_EQ(acc.Ready(t0_, false).ready, std::vector<TopicPartition>{tp0_});
  auto first = acc.Pop(tp0_);
  EXPECT_EQ(first->records.size(), 2u);
  EXPECT_EQ(first->reserved_bytes, 192u);
  EXPECT_EQ(first->Encode().size(), 197u);
  // The remaining batch lingers.
  EXPECT_TRUE(acc.Ready(t0_, false).ready.empty());
}

TEST_F(RecordAccumulatorTest, OversizedRecordGetsItsOwnBatch) {
  RecordAccumulator acc({.batch_size = 100, .linger = 1h, .delivery_timeout = 2h});
  auto r = Append(acc, tp0_, std::string(500, 'x'), t0_);
  EXPECT_TRUE(r.new_batch);
  EXPECT_TRUE(r.batch_full);
  EXPECT_EQ(acc.Ready(t0_, false).ready, std::vector<TopicPartition>{tp0_});
}

TEST_F(RecordAccumulatorTest, ReenqueuedBatchWaitsForBackoffAndKeepsItsBytes) {
  RecordAccumulator acc({.batch_size = 1000, .linger = 0ms, .delivery_timeout = 60s});
  Append(acc, tp0_, "a", t0_);
  auto b = acc.Pop(tp0_);
  const std::string bytes = b->Encode();
  b->attempts = 1;
  b->retry_at = t0_ + 100ms;
  acc.Reenqueue(std::move(b));
  // A record arriving meanwhile goes to a new batch behind the retried one.
  EXPECT_TRUE(Append(acc, tp0_, "b", t0_ + 1ms).new_batch);
  auto r = acc.Ready(t0_ + 50ms, true);
  EXPECT_TRUE(r.ready.empty());
  EXPECT_EQ(*r.next_check, t0_ + 100ms);
  EXPECT_EQ(acc.Ready(t0_ + 100ms, false).ready, std::vector<TopicPartition>{tp0_});
  auto again = acc.Pop(tp0_);
  EXPECT_EQ(again->encoded, bytes);
  EXPECT_EQ(again->records.size(), 1u);
}

TEST_F(RecordAccumulatorTest, ExpireRemovesBatchesPastDeliveryTimeout) {
  RecordAccumulator acc({.batch_size = 1000, .linger = 1h, .delivery_timeout = 1s});
  Append(acc, tp0_, "a", t0_);
  Append(acc, tp1_, "b", t0_ + 500ms);
  EXPECT_TRUE(acc.Expire(t0_ + 999ms).empty());
  auto expired = acc.Expire(t0_ + 1s);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]->tp, tp0_);
  EXPECT_EQ(acc.batch_count(), 1u);
  EXPECT_EQ(acc.TakeAll().size(), 1u);
  EXPECT_TRUE(acc.empty());
}

}  // namespace
}  // namespace sluice::client
