// Idempotent producer checks on append (Kafka's ProducerStateManager rules), the snapshot codec,
// expiry, truncation, and producer id allocation.

#include "storage/producer_state.h"

#include <limits>
#include <set>
#include <thread>

#include "storage/log_manager.h"
#include "storage/partition_log.h"
#include "storage/producer_id_allocator.h"
#include "storage/test_util.h"

namespace sluice::storage {
namespace {

using testing::HasErrc;
using testing::IsOk;
using testing::MakeBatch;
using testing::MakeProducerBatch;
using testing::Mutable;
using testing::TempDir;

constexpr int32_t kMaxSeq = std::numeric_limits<int32_t>::max();

class ProducerStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = MetaStore::Open(dir_.path() + "/meta");
    ASSERT_THAT(m, IsOk());
    meta_ = *std::move(m);
    config_.flush_ms = LogConfig::kNever;
    log_ = OpenLog();
    ASSERT_NE(log_, nullptr);
  }

  std::shared_ptr<PartitionLog> OpenLog() {
    PartitionLog::Options o;
    o.dir = dir_.path() + "/t-0";
    o.key = PartitionKey{1, PartitionId(0)};
    o.meta = meta_.get();
    o.config = config_;
    o.now_ms = [this] { return now_.load(); };
    o.producer_id_expiration_ms = 60'000;
    auto log = PartitionLog::Open(std::move(o));
    EXPECT_THAT(log, IsOk());
    return log.ok() ? *log : nullptr;
  }

  // Appends a fresh copy of a producer batch (Append patches the bytes in place).
  absl::StatusOr<AppendResult> Send(int64_t pid, int16_t epoch, int32_t seq, int count = 2) {
    std::string b = MakeProducerBatch(pid, epoch, seq, count, "s" + std::to_string(seq));
    return log_->Append(Mutable(b));
  }

  std::string ReadEverything() {
    auto r = log_->Read(log_->log_start_offset(), 1 << 30);
    EXPECT_THAT(r, IsOk());
    auto bytes = r->ReadAll();
    EXPECT_THAT(bytes, IsOk());
    return *bytes;
  }

  TempDir dir_;
  std::unique_ptr<MetaStore> meta_;
  LogConfig config_;
  std::atomic<int64_t> now_{1'700'000'000'000};
  std::shared_ptr<PartitionLog> log_;
};

TEST_F(ProducerStateTest, DuplicateOfEachOfTheLastFiveReturnsTheOriginalOffsets) {
  std::vector<AppendResult> sent;
  for (int i = 0; i < 7; ++i) {
    auto r = Send(42, 0, i * 2);
    ASSERT_THAT(r, IsOk());
    EXPECT_FALSE(r->duplicate);
    sent.push_back(*r);
  }
  Offset end = log_->log_end_offset();
  EXPECT_EQ(end, Offset(14));
  std::string before = ReadEverything();
  for (int i = 2; i < 7; ++i) {
    auto r = Send(42, 0, i * 2);
    ASSERT_THAT(r, IsOk()) << "batch " << i;
    EXPECT_TRUE(r->duplicate) << "batch " << i;
    EXPECT_EQ(r->base_offset, sent[i].base_offset) << "batch " << i;
    EXPECT_EQ(r->last_offset, sent[i].last_offset) << "batch " << i;
  }
  EXPECT_EQ(log_->log_end_offset(), end);
  EXPECT_EQ(ReadEverything(), before);
  // Nothing about the producer changed either: the next in-sequence batch still follows.
  auto next = Send(42, 0, 14);
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->base_offset, end);
}

TEST_F(ProducerStateTest, SixthOldestDuplicateIsOutOfOrder) {
  for (int i = 0; i < 6; ++i) ASSERT_THAT(Send(42, 0, i * 2), IsOk());
  Offset end = log_->log_end_offset();
  // Batch 0 (sequences 0-1) fell out of the 5 cached batches: Kafka no longer recognises it.
  EXPECT_THAT(Send(42, 0, 0), HasErrc(StorageErrc::kOutOfOrderSequence));
  EXPECT_EQ(log_->log_end_offset(), end);
  // Batch 1 is the oldest still cached.
  auto r = Send(42, 0, 2);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->duplicate);
  EXPECT_EQ(r->base_offset, Offset(2));
}

TEST_F(ProducerStateTest, GapAndSameStartWithOtherLengthAreOutOfOrder) {
  ASSERT_THAT(Send(7, 3, 0, 3), IsOk());  // sequences 0-2
  Offset end = log_->log_end_offset();
  EXPECT_THAT(Send(7, 3, 4), HasErrc(StorageErrc::kOutOfOrderSequence));   // 3 is missing
  EXPECT_THAT(Send(7, 3, 2), HasErrc(StorageErrc::kOutOfOrderSequence));   // overlaps
  EXPECT_THAT(Send(7, 3, 0, 2), HasErrc(StorageErrc::kOutOfOrderSequence));  // not the same batch
  EXPECT_EQ(log_->log_end_offset(), end);
  auto ok = Send(7, 3, 3);
  ASSERT_THAT(ok, IsOk());
  EXPECT_FALSE(ok->duplicate);
  EXPECT_EQ(ok->base_offset, end);
  // The failed attempts left the state alone.
  auto st = log_->producer_state(7);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(st->batches.size(), 2u);
  EXPECT_EQ(st->batches.back().first_seq, 3);
  EXPECT_EQ(st->batches.back().last_seq, 4);
}

TEST_F(ProducerStateTest, OlderEpochIsFenced) {
  ASSERT_THAT(Send(9, 0, 0), IsOk());
  ASSERT_THAT(Send(9, 1, 0), IsOk());
  Offset end = log_->log_end_offset();
  EXPECT_THAT(Send(9, 0, 2), HasErrc(StorageErrc::kInvalidProducerEpoch));
  // Even a retry of an epoch-0 batch: the epoch-0 batches were dropped at the bump.
  EXPECT_THAT(Send(9, 0, 0), HasErrc(StorageErrc::kInvalidProducerEpoch));
  EXPECT_EQ(log_->log_end_offset(), end);
  EXPECT_EQ(log_->producer_state(9)->epoch, 1);
}

TEST_F(ProducerStateTest, NewEpochMustStartAtZeroAndResetsTheSequence) {
  ASSERT_THAT(Send(9, 0, 0), IsOk());
  ASSERT_THAT(Send(9, 0, 2), IsOk());
  EXPECT_THAT(Send(9, 1, 4), HasErrc(StorageErrc::kOutOfOrderSequence));
  EXPECT_EQ(log_->producer_state(9)->epoch, 0);  // the rejected bump changed nothing
  auto bumped = Send(9, 1, 0);
  ASSERT_THAT(bumped, IsOk());
  EXPECT_FALSE(bumped->duplicate);  // same sequences as an epoch-0 batch, but a new epoch
  auto st = log_->producer_state(9);
  EXPECT_EQ(st->epoch, 1);
  ASSERT_EQ(st->batches.size(), 1u);
  EXPECT_EQ(st->batches[0].base_offset, bumped->base_offset);
  ASSERT_THAT(Send(9, 1, 2), IsOk());
  auto dup = Send(9, 1, 0);
  ASSERT_THAT(dup, IsOk());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->base_offset, bumped->base_offset);
}

TEST_F(ProducerStateTest, SequenceWrapsFromInt32MaxToZero) {
  EXPECT_EQ(ProducerStateTable::LastSequence(kMaxSeq - 1, 2), 0);
  EXPECT_EQ(ProducerStateTable::LastSequence(kMaxSeq, 0), kMaxSeq);
  EXPECT_EQ(ProducerStateTable::LastSequence(kMaxSeq, 3), 2);
  EXPECT_EQ(ProducerStateTable::LastSequence(5, 4), 9);
  // A producer without state may start anywhere, here just below the wrap.
  ASSERT_THAT(Send(5, 0, kMaxSeq - 3, 3), IsOk());  // MAX-3 .. MAX-1
  ASSERT_THAT(Send(5, 0, kMaxSeq, 1), IsOk());      // MAX
  EXPECT_THAT(Send(5, 0, 1, 1), HasErrc(StorageErrc::kOutOfOrderSequence));
  ASSERT_THAT(Send(5, 0, 0, 3), IsOk());            // wrapped: 0 .. 2
  auto dup = Send(5, 0, kMaxSeq, 1);
  ASSERT_THAT(dup, IsOk());
  EXPECT_TRUE(dup->duplicate);
  // A batch that itself spans the wrap.
  ASSERT_THAT(Send(6, 0, kMaxSeq - 1, 4), IsOk());  // MAX-1, MAX, 0, 1
  EXPECT_EQ(log_->producer_state(6)->batches.back().last_seq, 1);
  ASSERT_THAT(Send(6, 0, 2, 1), IsOk());
  auto dup6 = Send(6, 0, kMaxSeq - 1, 4);
  ASSERT_THAT(dup6, IsOk());
  EXPECT_TRUE(dup6->duplicate);
}

TEST_F(ProducerStateTest, ProducersAreIndependentAndPlainBatchesSkipTheChecks) {
  ASSERT_THAT(Send(1, 0, 100), IsOk());  // no state yet: any first sequence
  ASSERT_THAT(Send(2, 4, 0), IsOk());
  ASSERT_THAT(Send(1, 0, 102), IsOk());
  EXPECT_THAT(Send(2, 4, 100), HasErrc(StorageErrc::kOutOfOrderSequence));
  EXPECT_EQ(log_->producer_count(), 2u);
  // producerId -1: the same bytes twice are two appends.
  std::string a = MakeBatch(2, "plain");
  std::string b = a;
  auto ra = log_->Append(Mutable(a));
  auto rb = log_->Append(Mutable(b));
  ASSERT_THAT(ra, IsOk());
  ASSERT_THAT(rb, IsOk());
  EXPECT_FALSE(rb->duplicate);
  EXPECT_EQ(rb->base_offset, ra->last_offset + 1);
  EXPECT_EQ(log_->producer_count(), 2u);
}

TEST_F(ProducerStateTest, NegativeSequenceOrEpochOfAnIdempotentBatchIsCorrupt) {
  EXPECT_THAT(Send(3, 0, -1), HasErrc(StorageErrc::kCorruptBatch));
  EXPECT_THAT(Send(3, -1, 0), HasErrc(StorageErrc::kCorruptBatch));
  EXPECT_EQ(log_->log_end_offset(), Offset(0));
  EXPECT_EQ(log_->producer_count(), 0u);
}

TEST_F(ProducerStateTest, ConcurrentRetriesOfOneBatchAppendItOnce) {
  ASSERT_THAT(Send(11, 0, 0), IsOk());
  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<AppendResult>> results(kThreads, absl::UnknownError("unset"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { results[t] = Send(11, 0, 2); });
  }
  for (auto& th : threads) th.join();
  int appended = 0;
  for (const auto& r : results) {
    ASSERT_THAT(r, IsOk());
    if (!r->duplicate) ++appended;
    EXPECT_EQ(r->base_offset, Offset(2));
  }
  EXPECT_EQ(appended, 1);
  EXPECT_EQ(log_->log_end_offset(), Offset(4));
}

TEST_F(ProducerStateTest, TruncateForgetsTheRemovedBatches) {
  std::vector<AppendResult> sent;
  for (int i = 0; i < 6; ++i) sent.push_back(*Send(8, 0, i * 2));
  ASSERT_THAT(Send(12, 0, 0), IsOk());  // only batch of producer 12, at offsets 12-13
  ASSERT_THAT(log_->TruncateTo(sent[4].base_offset), IsOk());
  EXPECT_EQ(log_->log_end_offset(), sent[4].base_offset);
  // Producer 12 lost its only batch: gone, so it may start anywhere again.
  EXPECT_FALSE(log_->producer_state(12).has_value());
  auto st = log_->producer_state(8);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(st->batches.size(), 3u);  // batches 1..3 remain of the 5 cached
  EXPECT_EQ(st->batches.back().base_offset, sent[3].base_offset);
  // The retry of truncated batch 4 is a new append, not a duplicate of a batch that is gone.
  auto again = Send(8, 0, 8);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->duplicate);
  EXPECT_EQ(again->base_offset, sent[4].base_offset);
  auto dup = Send(8, 0, 6);
  ASSERT_THAT(dup, IsOk());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->base_offset, sent[3].base_offset);
  ASSERT_THAT(Send(12, 0, 40), IsOk());
}

TEST_F(ProducerStateTest, IdleProducersExpireAtRetentionChecks) {
  ASSERT_THAT(Send(1, 0, 0), IsOk());
  now_ += 30'000;
  ASSERT_THAT(Send(2, 0, 0), IsOk());
  now_ += 30'000;  // producer 1 idle for 60 s = producer_id_expiration_ms, producer 2 for 30 s
  ASSERT_THAT(log_->ApplyRetention(), IsOk());
  EXPECT_FALSE(log_->producer_state(1).has_value());
  EXPECT_TRUE(log_->producer_state(2).has_value());
  // Expired: any sequence is accepted again, and its old batch is not a duplicate any more.
  auto r = Send(1, 0, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->duplicate);
}

TEST(ProducerStateTableTest, SnapshotRoundTrips) {
  ProducerStateTable t;
  for (int i = 0; i < 7; ++i) {
    std::string b = MakeProducerBatch(77, 3, i * 2);
    auto v = RecordBatchView::Parse(AsBytes(b));
    ASSERT_THAT(v, IsOk());
    t.Record(*v, Offset(100 + i * 2), 5000 + i);
  }
  std::string b = MakeProducerBatch(5, 0, kMaxSeq, 3);  // sequences wrap inside the batch
  t.Record(*RecordBatchView::Parse(AsBytes(b)), Offset(200), 9000);
  std::string bytes = t.Encode(Offset(203));
  auto s = ProducerStateTable::Decode(bytes);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->as_of, Offset(203));
  ASSERT_EQ(s->table.size(), 2u);
  const ProducerEntry* a = s->table.Find(77);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->epoch, 3);
  EXPECT_EQ(a->last_append_ms, 5006);
  ASSERT_EQ(a->batches.size(), 5u);
  EXPECT_EQ(a->batches.front(), (ProducerBatch{4, 5, Offset(104), Offset(105), 1'700'000'000'001}));
  EXPECT_EQ(a->batches.back().first_seq, 12);
  const ProducerEntry* p5 = s->table.Find(5);
  ASSERT_NE(p5, nullptr);
  EXPECT_EQ(p5->batches.back(), (ProducerBatch{kMaxSeq, 1, Offset(200), Offset(202),
                                               1'700'000'000'002}));
  EXPECT_EQ(s->table.Encode(Offset(203)), bytes);
  // Damage is reported, never half-loaded.
  EXPECT_FALSE(ProducerStateTable::Decode(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(ProducerStateTable::Decode(bytes + "x").ok());
  std::string bad_format = bytes;
  bad_format[0] = 9;
  EXPECT_FALSE(ProducerStateTable::Decode(bad_format).ok());
  EXPECT_FALSE(ProducerStateTable::Decode("").ok());
  auto empty = ProducerStateTable::Decode(ProducerStateTable().Encode(Offset(0)));
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->table.size(), 0u);
}

TEST(ProducerStateTableTest, ReplayIgnoresBatchesAlreadyRecordedAndOlderEpochs) {
  ProducerStateTable t;
  std::string b0 = MakeProducerBatch(1, 2, 0);
  std::string b1 = MakeProducerBatch(1, 2, 2);
  std::string old = MakeProducerBatch(1, 1, 4);
  t.Record(*RecordBatchView::Parse(AsBytes(b0)), Offset(0), 1);
  t.Record(*RecordBatchView::Parse(AsBytes(b1)), Offset(2), 1);
  uint64_t v = t.version();
  t.Record(*RecordBatchView::Parse(AsBytes(b0)), Offset(0), 1);
  t.Record(*RecordBatchView::Parse(AsBytes(b1)), Offset(2), 1);
  t.Record(*RecordBatchView::Parse(AsBytes(old)), Offset(4), 1);
  EXPECT_EQ(t.version(), v);
  EXPECT_EQ(t.Find(1)->batches.size(), 2u);
  EXPECT_EQ(t.Find(1)->epoch, 2);
}

// ---- producer id allocation ----

TEST(ProducerIdAllocatorTest, IdsAreUniqueAcrossRestartsAndCrashes) {
  TempDir dir;
  std::set<int64_t> seen;  // everything the original data dir handed out
  auto take = [](std::set<int64_t>& ids, ProducerIdAllocator& a, int n) {
    for (int i = 0; i < n; ++i) {
      auto id = a.Allocate();
      ASSERT_THAT(id, IsOk());
      EXPECT_GE(*id, 0);
      EXPECT_TRUE(ids.insert(*id).second) << "id " << *id << " handed out twice";
    }
  };
  {
    auto meta = MetaStore::Open(dir.path() + "/meta");
    ASSERT_THAT(meta, IsOk());
    ProducerIdAllocator a(meta->get(), /*block_size=*/4);
    take(seen, a, 10);  // three blocks, the last partly used
    // A restart without a clean shutdown of the allocator: its in-memory block is lost.
    ProducerIdAllocator b(meta->get(), 4);
    take(seen, b, 5);
    // A crash image: the RocksDB files copied while open.
    std::filesystem::copy(dir.path() + "/meta", dir.path() + "/crash",
                          std::filesystem::copy_options::recursive);
    // Handed out after the image was taken, from a block reserved before it: a process that
    // crashed later than the image leaves at least the image's state on disk.
    take(seen, b, 2);
  }
  ASSERT_EQ(seen.size(), 17u);
  {
    // The crash image and the original are two different futures; each must avoid every id the
    // original handed out.
    std::set<int64_t> after_crash = seen;
    auto meta = MetaStore::Open(dir.path() + "/crash");
    ASSERT_THAT(meta, IsOk());
    ProducerIdAllocator a(meta->get(), 4);
    take(after_crash, a, 6);
    EXPECT_EQ(after_crash.size(), 23u);
  }
  auto meta = MetaStore::Open(dir.path() + "/meta");  // clean reopen of the original
  ASSERT_THAT(meta, IsOk());
  ProducerIdAllocator a(meta->get(), 4);
  take(seen, a, 3);
  EXPECT_EQ(seen.size(), 20u);
}

TEST(ProducerIdAllocatorTest, LogManagerHandsOutUniqueIdsToConcurrentCallers) {
  TempDir dir;
  std::vector<int64_t> ids;
  {
    LogManager::Options o;
    o.data_dir = dir.path();
    auto lm = LogManager::Open(o);
    ASSERT_THAT(lm, IsOk());
    constexpr int kThreads = 6, kEach = 700;  // 4200 ids: several 1000-id blocks
    std::vector<std::vector<int64_t>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          auto id = (*lm)->AllocateProducerId();
          if (id.ok()) got[t].push_back(*id);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (auto& g : got) {
      EXPECT_EQ(g.size(), static_cast<size_t>(kEach));
      ids.insert(ids.end(), g.begin(), g.end());
    }
    ASSERT_THAT((*lm)->Close(), IsOk());
    EXPECT_THAT((*lm)->AllocateProducerId(), HasErrc(StorageErrc::kShuttingDown));
  }
  LogManager::Options o;
  o.data_dir = dir.path();
  auto lm = LogManager::Open(o);
  ASSERT_THAT(lm, IsOk());
  for (int i = 0; i < 10; ++i) ids.push_back(*(*lm)->AllocateProducerId());
  std::set<int64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  EXPECT_EQ(ids.size(), 4210u);
}

}  // namespace
}  // namespace sluice::storage
