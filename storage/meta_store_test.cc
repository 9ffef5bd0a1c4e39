#include "storage/meta_store.h"

#include <atomic>
#include <random>
#include <thread>

#include "storage/test_util.h"

namespace sluice::storage {
namespace {

using testing::IsOk;
using testing::TempDir;

BatchIndexEntry Entry(int64_t base, int64_t last, uint64_t pos, int64_t ts) {
  return BatchIndexEntry{Offset(base), Offset(last), Offset(0), pos, 100, ts};
}

class MetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = MetaStore::Open(dir_.path());
    ASSERT_THAT(m, IsOk());
    meta_ = *std::move(m);
  }
  TempDir dir_;
  std::unique_ptr<MetaStore> meta_;
  const PartitionKey a_{7, PartitionId(0)};
  const PartitionKey b_{7, PartitionId(1)};
};

TEST_F(MetaStoreTest, FindBatchReturnsTheContainingBatchOrTheNext) {
  // Batches [0..4], [5..9], a gap, [20..29].
  ASSERT_THAT(meta_->PutBatch(a_, Entry(0, 4, 0, 10), true), IsOk());
  ASSERT_THAT(meta_->PutBatch(a_, Entry(5, 9, 100, 20), true), IsOk());
  ASSERT_THAT(meta_->PutBatch(a_, Entry(20, 29, 200, 15), false), IsOk());
  ASSERT_THAT(meta_->PutBatch(b_, Entry(0, 100, 0, 99), true), IsOk());
  EXPECT_EQ((*meta_->FindBatch(a_, Offset(0)))->base_offset, Offset(0));
  EXPECT_EQ((*meta_->FindBatch(a_, Offset(7)))->base_offset, Offset(5));
  EXPECT_EQ((*meta_->FindBatch(a_, Offset(12)))->base_offset, Offset(20));  // in the gap
  EXPECT_EQ((*meta_->FindBatch(a_, Offset(29)))->position, 200u);
  EXPECT_FALSE(meta_->FindBatch(a_, Offset(30))->has_value());  // never the other partition's
  EXPECT_EQ((*meta_->LastBatch(a_))->base_offset, Offset(20));
  EXPECT_EQ((*meta_->LastBatch(b_))->last_offset, Offset(100));
  EXPECT_FALSE(meta_->LastBatch(PartitionKey{8, PartitionId(0)})->has_value());
}

// Lookups reuse pooled iterators (MetaStore::PooledIterator): each must still see every write and
// deletion made before it, across memtable flushes that replace the version an idle one pinned.
TEST_F(MetaStoreTest, ReusedIteratorsSeeEveryEarlierWriteAndDeletion) {
  auto base_at = [&](int64_t o) -> std::optional<int64_t> {
    auto e = meta_->FindBatch(a_, Offset(o));
    EXPECT_THAT(e, IsOk());
    if (!e.ok() || !e->has_value()) return std::nullopt;
    return (*e)->base_offset.value();
  };
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(meta_->PutBatch(a_, Entry(i * 10, i * 10 + 9, i * 100, i), true), IsOk());
  }
  EXPECT_EQ(base_at(55), 50);
  EXPECT_EQ(base_at(100), std::nullopt);
  // A write after the iterator was pooled.
  ASSERT_THAT(meta_->PutBatch(a_, Entry(100, 109, 1000, 10), true), IsOk());
  EXPECT_EQ(base_at(105), 100);
  // A range deletion in the memtable after it was pooled.
  ASSERT_THAT(meta_->DeleteBatchesFrom(a_, Offset(80)), IsOk());
  EXPECT_EQ(base_at(85), std::nullopt);
  EXPECT_EQ(base_at(75), 70);
  // A flush installs a new version; then a rewrite of deleted keys with new positions.
  ASSERT_THAT(meta_->FlushIndex(), IsOk());
  EXPECT_EQ(base_at(75), 70);
  ASSERT_THAT(meta_->PutBatch(a_, Entry(80, 84, 7777, 11), true), IsOk());
  EXPECT_EQ((*meta_->FindBatch(a_, Offset(82)))->position, 7777u);
  ASSERT_THAT(meta_->FlushIndex(), IsOk());
  ASSERT_THAT(meta_->DeleteBatchesBefore(a_, Offset(40)), IsOk());
  EXPECT_EQ(base_at(0), 40);
  EXPECT_EQ((*meta_->FindBatch(a_, Offset(84)))->position, 7777u);
  // Never the next partition's entries, which a reused iterator (no upper bound) can reach.
  ASSERT_THAT(meta_->PutBatch(b_, Entry(0, 1000, 0, 0), true), IsOk());
  EXPECT_EQ(base_at(85), std::nullopt);
}

// Readers on several threads while a writer appends and flushes: every lookup finds each entry
// written before it started.
TEST_F(MetaStoreTest, ConcurrentLookupsSeeEntriesWrittenBeforeThem) {
  constexpr int64_t kEntries = 20000;
  std::atomic<int64_t> written{0};
  std::atomic<int64_t> errors{0};
  std::thread writer([&] {
    for (int64_t i = 0; i < kEntries; ++i) {
      if (!meta_->PutBatch(a_, Entry(i * 2, i * 2 + 1, i, i), false).ok()) ++errors;
      written.store(i + 1, std::memory_order_release);
      if (i % 5000 == 4999 && !meta_->FlushIndex().ok()) ++errors;
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      while (written.load(std::memory_order_acquire) < kEntries) {
        int64_t n = written.load(std::memory_order_acquire);
        if (n == 0) continue;
        int64_t i = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
        auto e = meta_->FindBatch(a_, Offset(i * 2 + 1));
        if (!e.ok() || !e->has_value() || (*e)->base_offset != Offset(i * 2) ||
            (*e)->position != static_cast<uint64_t>(i)) {
          ++errors;
        }
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ((*meta_->LastBatch(a_))->base_offset, Offset((kEntries - 1) * 2));
}

TEST_F(MetaStoreTest, TimeIndexFindsFirstBatchAtOrAfter) {
  ASSERT_THAT(meta_->PutBatch(a_, Entry(0, 4, 0, 100), true), IsOk());
  ASSERT_THAT(meta_->PutBatch(a_, Entry(5, 9, 100, 200), true), IsOk());
  ASSERT_THAT(meta_->PutBatch(a_, Entry(10, 14, 200, 150), false), IsOk());  // not a new max
  ASSERT_THAT(meta_->PutBatch(a_, Entry(15, 19, 300, 300), true), IsOk());
  EXPECT_EQ(**meta_->FindOffsetForTimestamp(a_, 50), Offset(0));
  EXPECT_EQ(**meta_->FindOffsetForTimestamp(a_, 150), Offset(5));
  EXPECT_EQ(**meta_->FindOffsetForTimestamp(a_, 201), Offset(15));
  EXPECT_FALSE(meta_->FindOffsetForTimestamp(a_, 301)->has_value());
  EXPECT_EQ(**meta_->MaxIndexedTimestamp(a_), 300);
  // Negative timestamps order below positive ones.
  ASSERT_THAT(meta_->PutBatch(b_, Entry(0, 0, 0, -5), true), IsOk());
  ASSERT_THAT(meta_->PutBatch(b_, Entry(1, 1, 0, 5), true), IsOk());
  EXPECT_EQ(**meta_->FindOffsetForTimestamp(b_, -10), Offset(0));
  EXPECT_EQ(**meta_->FindOffsetForTimestamp(b_, 0), Offset(1));
}

TEST_F(MetaStoreTest, DeleteRangesTrimBothIndexes) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(meta_->PutBatch(a_, Entry(i * 10, i * 10 + 9, i * 100, 1000 + i), true), IsOk());
  }
  ASSERT_THAT(meta_->DeleteBatchesFrom(a_, Offset(70)), IsOk());
  EXPECT_EQ((*meta_->LastBatch(a_))->base_offset, Offset(60));
  EXPECT_EQ(**meta_->MaxIndexedTimestamp(a_), 1006);
  ASSERT_THAT(meta_->DeleteBatchesBefore(a_, Offset(30)), IsOk());
  EXPECT_EQ((*meta_->FindBatch(a_, Offset(0)))->base_offset, Offset(30));
  EXPECT_EQ(**meta_->FindOffsetForTimestamp(a_, 0), Offset(30));
}

TEST_F(MetaStoreTest, MetadataSurvivesReopen) {
  ASSERT_THAT(meta_->PutCheckpoint(a_, Checkpoint{Offset(10), 4096, Offset(17)}, true), IsOk());
  ASSERT_THAT(meta_->PutLogStartOffset(a_, Offset(5)), IsOk());
  ASSERT_THAT(meta_->PutSegmentSummary(a_, Offset(0), SegmentSummary{123, 456}), IsOk());
  meta::TopicRecord t;
  t.set_name("x");
  t.set_topic_id(*meta_->AllocateTopicId());
  ASSERT_THAT(meta_->PutTopic(t), IsOk());
  uint32_t second = *meta_->AllocateTopicId();
  EXPECT_EQ(second, t.topic_id() + 1);
  ASSERT_THAT(meta_->Close(), IsOk());
  auto m = MetaStore::Open(dir_.path());
  ASSERT_THAT(m, IsOk());
  auto cp = (*m)->GetCheckpoint(a_);
  ASSERT_TRUE(cp->has_value());
  EXPECT_EQ((*cp)->segment_base, Offset(10));
  EXPECT_EQ((*cp)->position, 4096u);
  EXPECT_EQ((*cp)->next_offset, Offset(17));
  EXPECT_EQ(**(*m)->GetLogStartOffset(a_), Offset(5));
  EXPECT_EQ((**(*m)->GetSegmentSummary(a_, Offset(0))).max_timestamp, 456);
  auto topics = (*m)->ListTopics();
  ASSERT_EQ(topics->size(), 1u);
  EXPECT_EQ((*topics)[0].name(), "x");
  EXPECT_EQ(*(*m)->AllocateTopicId(), second + 1);  // ids are never reused
  ASSERT_THAT((*m)->DeletePartition(a_), IsOk());
  EXPECT_FALSE((*m)->GetCheckpoint(a_)->has_value());
}

}  // namespace
}  // namespace sluice::storage

namespace sluice::storage {
namespace {

TEST_F(MetaStoreTest, GroupOffsetsAreDurableAndScopedByGroupAndTopic) {
  std::vector<CommittedOffset> g1 = {{"orders", 0, 10, "m0", 1}, {"orders", 1, 20, "", 2},
                                     {"orders-x", 0, 5, "", 3}};
  ASSERT_THAT(meta_->PutGroupOffsets("g1", g1), IsOk());
  ASSERT_THAT(meta_->PutGroupOffsets("g", {{"orders", 0, 99, "", 4}}), IsOk());
  ASSERT_THAT(meta_->PutGroupOffsets("g1", {{"orders", 1, 21, "again", 5}}), IsOk());
  ASSERT_THAT(meta_->Close(), IsOk());
  auto m = MetaStore::Open(dir_.path());
  ASSERT_THAT(m, IsOk());
  auto got = (*m)->GetGroupOffsets("g1");
  ASSERT_THAT(got, IsOk());
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].topic, "orders");
  EXPECT_EQ((*got)[0].offset, 10);
  EXPECT_EQ((*got)[0].metadata, "m0");
  EXPECT_EQ((*got)[1].offset, 21);
  EXPECT_EQ((*got)[1].metadata, "again");
  EXPECT_EQ((*got)[2].topic, "orders-x");
  EXPECT_EQ((*(*m)->GetGroupOffsets("g"))[0].offset, 99);  // "g" is not a prefix match of "g1"
  EXPECT_EQ(*(*m)->ListOffsetGroups(), (std::vector<std::string>{"g", "g1"}));
  ASSERT_THAT((*m)->DeleteTopicOffsets("orders"), IsOk());
  got = (*m)->GetGroupOffsets("g1");
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].topic, "orders-x");
  EXPECT_TRUE((*m)->GetGroupOffsets("g")->empty());
  ASSERT_THAT((*m)->DeleteGroupOffsets("g1"), IsOk());
  EXPECT_TRUE((*m)->ListOffsetGroups()->empty());
}

}  // namespace
}  // namespace sluice::storage
