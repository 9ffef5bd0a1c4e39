#include "storage/partition_log.h"

#include <future>
#include <random>
#include <thread>

#include "storage/test_util.h"

namespace sluice::storage {
namespace {

using testing::HasErrc;
using testing::IsOk;
using testing::MakeBatch;
using testing::Mutable;
using testing::TempDir;

class PartitionLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = MetaStore::Open(dir_.path() + "/meta");
    ASSERT_THAT(m, IsOk());
    meta_ = *std::move(m);
    config_.flush_ms = LogConfig::kNever;
  }

  std::shared_ptr<PartitionLog> OpenLog(FileFactory* files = nullptr) {
    PartitionLog::Options o;
    o.dir = dir_.path() + "/t-0";
    o.key = PartitionKey{1, PartitionId(0)};
    o.meta = meta_.get();
    o.files = files;
    o.config = config_;
    o.now_ms = [this] { return now_.load(); };
    auto log = PartitionLog::Open(std::move(o));
    EXPECT_THAT(log, IsOk());
    return log.ok() ? *log : nullptr;
  }

  // Appends `n` batches of `records` records each; returns their bytes as stored.
  std::vector<std::string> AppendBatches(PartitionLog& log, int n, int records = 3,
                                         size_t value_size = 0) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      std::string b = MakeBatch(records, "b" + std::to_string(i), now_, value_size);
      auto r = log.Append(Mutable(b));
      EXPECT_THAT(r, IsOk());
      out.push_back(b);  // Append patched the base offset in place
    }
    return out;
  }

  static std::string Concat(const std::vector<std::string>& v, size_t from = 0) {
    std::string s;
    for (size_t i = from; i < v.size(); ++i) s += v[i];
    return s;
  }

  TempDir dir_;
  std::unique_ptr<MetaStore> meta_;
  LogConfig config_;
  std::atomic<int64_t> now_{1'700'000'000'000};
};

TEST_F(PartitionLogTest, AppendAssignsConsecutiveOffsets) {
  auto log = OpenLog();
  std::string a = MakeBatch(3, "a");
  std::string b = MakeBatch(5, "b");
  auto ra = log->Append(Mutable(a));
  auto rb = log->Append(Mutable(b));
  ASSERT_THAT(ra, IsOk());
  ASSERT_THAT(rb, IsOk());
  EXPECT_EQ(ra->base_offset, Offset(0));
  EXPECT_EQ(ra->last_offset, Offset(2));
  EXPECT_EQ(rb->base_offset, Offset(3));
  EXPECT_EQ(rb->last_offset, Offset(7));
  EXPECT_EQ(log->log_end_offset(), Offset(8));
  EXPECT_EQ(log->high_watermark(), Offset(8));
  // The stored batch carries its offset and still passes its CRC.
  auto view = RecordBatchView::Parse(AsBytes(b));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->base_offset(), Offset(3));
  EXPECT_THAT(view->VerifyCrc(), IsOk());
}

TEST_F(PartitionLogTest, ReadReturnsWholeBatchesFromTheContainingOne) {
  auto log = OpenLog();
  auto batches = AppendBatches(*log, 10, 4);
  // Offset 13 is inside batch 3 (offsets 12..15): the read starts at that batch.
  auto r = log->Read(Offset(13), 1 << 20);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->next_offset, Offset(40));
  EXPECT_EQ(r->high_watermark, Offset(40));
  auto bytes = r->ReadAll();
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(*bytes, Concat(batches, 3));
}

TEST_F(PartitionLogTest, ReadHonoursMaxBytesButReturnsAtLeastOneBatch) {
  auto log = OpenLog();
  auto batches = AppendBatches(*log, 5, 2);
  size_t one = batches[0].size();
  auto r = log->Read(Offset(0), one * 2 + 1);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->total_bytes, one * 2);
  EXPECT_EQ(r->next_offset, Offset(4));
  auto tiny = log->Read(Offset(0), 1);
  ASSERT_THAT(tiny, IsOk());
  EXPECT_EQ(tiny->total_bytes, one);
  auto none = log->Read(Offset(0), 1, /*min_one_batch=*/false);
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(none->total_bytes, 0u);
}

TEST_F(PartitionLogTest, ReadAtLogEndIsEmptyAndBeyondIsOutOfRange) {
  auto log = OpenLog();
  AppendBatches(*log, 2, 2);
  auto at_end = log->Read(Offset(4), 1000);
  ASSERT_THAT(at_end, IsOk());
  EXPECT_TRUE(at_end->slices.empty());
  EXPECT_EQ(at_end->next_offset, Offset(4));
  EXPECT_THAT(log->Read(Offset(5), 1000), HasErrc(StorageErrc::kOffsetOutOfRange));
}

TEST_F(PartitionLogTest, ReadStopsAtHighWatermark) {
  auto log = OpenLog();
  AppendBatches(*log, 4, 1);
  log->SetHighWatermark(Offset(2));
  auto r = log->Read(Offset(0), 1 << 20);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->next_offset, Offset(2));
  EXPECT_EQ(r->high_watermark, Offset(2));
}

TEST_F(PartitionLogTest, RejectsCorruptAndOversizedBatchesAndKeepsNothing) {
  auto log = OpenLog();
  std::string bad = MakeBatch(2, "x");
  bad[bad.size() - 1] ^= 0x40;
  EXPECT_THAT(log->Append(Mutable(bad)), HasErrc(StorageErrc::kCorruptBatch));
  std::string two = MakeBatch(1, "a") + MakeBatch(1, "b");
  EXPECT_THAT(log->Append(Mutable(two)), HasErrc(StorageErrc::kCorruptBatch));
  log->UpdateConfig([&] {
    LogConfig c = config_;
    c.max_message_bytes = 100;
    return c;
  }());
  std::string big = MakeBatch(1, "big", 0, 200);
  EXPECT_THAT(log->Append(Mutable(big)), HasErrc(StorageErrc::kBatchTooLarge));
  EXPECT_EQ(log->log_end_offset(), Offset(0));
  EXPECT_EQ(log->size_bytes(), 0u);
}

TEST_F(PartitionLogTest, RollsAtSegmentBytesAndReadsAcrossSegments) {
  config_.segment_bytes = 1000;
  auto log = OpenLog();
  auto batches = AppendBatches(*log, 30, 2, 50);
  EXPECT_GT(log->segment_count(), 3u);
  auto r = log->Read(Offset(0), 1 << 20);
  ASSERT_THAT(r, IsOk());
  EXPECT_GT(r->slices.size(), 1u);
  EXPECT_EQ(*r->ReadAll(), Concat(batches));
  // Each segment file is named for its first offset.
  for (const auto& s : r->slices) {
    auto v = s.segment->base_offset();
    EXPECT_EQ(s.segment->path().substr(s.segment->path().size() - 24), Segment::FileName(v));
  }
}

TEST_F(PartitionLogTest, RollsAtSegmentMs) {
  config_.segment_ms = 1000;
  auto log = OpenLog();
  AppendBatches(*log, 2);
  EXPECT_EQ(log->segment_count(), 1u);
  now_ += 1000;
  AppendBatches(*log, 1);
  EXPECT_EQ(log->segment_count(), 2u);
}

TEST_F(PartitionLogTest, RetentionBytesDeletesOldestClosedSegments) {
  config_.segment_bytes = 1000;
  auto log = OpenLog();
  auto batches = AppendBatches(*log, 40, 2, 50);
  size_t before = log->segment_count();
  LogConfig c = config_;
  c.retention_bytes = 2000;
  log->UpdateConfig(c);
  auto n = log->ApplyRetention();
  ASSERT_THAT(n, IsOk());
  EXPECT_GT(*n, 0);
  EXPECT_EQ(log->segment_count(), before - static_cast<size_t>(*n));
  EXPECT_LE(log->size_bytes(), 2000u + 1000u);
  EXPECT_GE(log->size_bytes(), 2000u);
  Offset start = log->log_start_offset();
  EXPECT_GT(start, Offset(0));
  EXPECT_THAT(log->Read(start - 1, 100), HasErrc(StorageErrc::kOffsetOutOfRange));
  auto r = log->Read(start, 1 << 20);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->next_offset, Offset(80));
}

TEST_F(PartitionLogTest, RetentionMsDeletesSegmentsWhoseNewestRecordIsOld) {
  config_.segment_bytes = 600;
  auto log = OpenLog();
  AppendBatches(*log, 10, 2, 50);  // timestamps ~ now_
  now_ += 10'000;
  AppendBatches(*log, 10, 2, 50);
  LogConfig c = config_;
  c.retention_ms = 5'000;
  log->UpdateConfig(c);
  auto n = log->ApplyRetention();
  ASSERT_THAT(n, IsOk());
  EXPECT_GT(*n, 0);
  // Everything older than 5 s went, nothing newer.
  auto r = log->Read(log->log_start_offset(), 1 << 20);
  ASSERT_THAT(r, IsOk());
  auto bytes = *r->ReadAll();
  auto first = RecordBatchView::Parse(AsBytes(bytes));
  ASSERT_THAT(first, IsOk());
  EXPECT_LE(first->base_offset(), Offset(20));
  EXPECT_GE(log->log_start_offset(), Offset(2));
}

TEST_F(PartitionLogTest, TruncateToDropsWholeBatchesAndAcceptsNewAppends) {
  config_.segment_bytes = 1000;
  auto log = OpenLog();
  auto batches = AppendBatches(*log, 30, 2, 50);
  // Offset 21 is inside the batch 20..21: that batch goes too.
  ASSERT_THAT(log->TruncateTo(Offset(21)), IsOk());
  EXPECT_EQ(log->log_end_offset(), Offset(20));
  auto r = log->Read(Offset(0), 1 << 20);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*r->ReadAll(), Concat(std::vector<std::string>(batches.begin(), batches.begin() + 10)));
  std::string next = MakeBatch(2, "new");
  auto a = log->Append(Mutable(next));
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->base_offset, Offset(20));
  auto tail = log->Read(Offset(20), 1 << 20);
  EXPECT_EQ(*tail->ReadAll(), next);
}

TEST_F(PartitionLogTest, DeleteRecordsBeforeMovesLogStartAndDropsWholeSegments) {
  config_.segment_bytes = 1000;
  auto log = OpenLog();
  AppendBatches(*log, 30, 2, 50);
  size_t segs = log->segment_count();
  EXPECT_THAT(log->DeleteRecordsBefore(Offset(61)), HasErrc(StorageErrc::kOffsetOutOfRange));
  ASSERT_THAT(log->DeleteRecordsBefore(Offset(25)), IsOk());
  EXPECT_EQ(log->log_start_offset(), Offset(25));
  EXPECT_LT(log->segment_count(), segs);
  EXPECT_THAT(log->Read(Offset(24), 100), HasErrc(StorageErrc::kOffsetOutOfRange));
  auto r = log->Read(Offset(25), 100);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(RecordBatchView::Parse(AsBytes(*r->ReadAll()))->base_offset(), Offset(24));
}

TEST_F(PartitionLogTest, OffsetForTimestampFindsFirstRecordAtOrAfter) {
  auto log = OpenLog();
  for (int i = 0; i < 5; ++i) {
    std::string b = MakeBatch(4, "t", 1000 + i * 10);  // timestamps 1000+10i .. +3
    ASSERT_THAT(log->Append(Mutable(b)), IsOk());
  }
  auto exact = log->OffsetForTimestamp(1022);
  ASSERT_THAT(exact, IsOk());
  ASSERT_TRUE(exact->has_value());
  EXPECT_EQ((*exact)->offset, Offset(10));
  EXPECT_EQ((*exact)->timestamp, 1022);
  auto between = log->OffsetForTimestamp(1005);  // no record at 1005: the first at 1010
  ASSERT_TRUE(between->has_value());
  EXPECT_EQ((*between)->offset, Offset(4));
  auto early = log->OffsetForTimestamp(0);
  EXPECT_EQ((*early)->offset, Offset(0));
  auto late = log->OffsetForTimestamp(5000);
  ASSERT_THAT(late, IsOk());
  EXPECT_FALSE(late->has_value());
}

TEST_F(PartitionLogTest, AwaitDurableCompletesAfterFlushAndGroupsWaiters) {
  auto log = OpenLog();
  std::vector<AppendResult> results;
  for (int i = 0; i < 5; ++i) {
    std::string b = MakeBatch(1, "d");
    results.push_back(*log->Append(Mutable(b)));
  }
  EXPECT_EQ(log->durable_offset(), Offset(0));
  std::atomic<int> done{0};
  for (auto& r : results) {
    log->AwaitDurable(r.last_offset, [&](absl::Status s) {
      EXPECT_THAT(s, IsOk());
      ++done;
    });
  }
  EXPECT_EQ(done, 0);
  ASSERT_THAT(log->Flush(), IsOk());  // one flush completes every waiter
  EXPECT_EQ(done, 5);
  EXPECT_EQ(log->durable_offset(), Offset(5));
  // Already durable: completes inline.
  bool inline_done = false;
  log->AwaitDurable(Offset(2), [&](absl::Status s) { inline_done = s.ok(); });
  EXPECT_TRUE(inline_done);
}

TEST_F(PartitionLogTest, DiskFullFailsTheAppendAndLeavesNoPartialBatch) {
  testing::FaultyFileFactory files;
  auto log = OpenLog(&files);
  auto ok = AppendBatches(*log, 3);
  std::string b = MakeBatch(3, "full", 0, 100);
  files.write_budget = 10;  // the next write runs out of space after 10 bytes
  EXPECT_THAT(log->Append(Mutable(b)), HasErrc(StorageErrc::kDiskFull));
  EXPECT_EQ(log->log_end_offset(), Offset(9));
  auto r = log->Read(Offset(0), 1 << 20);
  EXPECT_EQ(*r->ReadAll(), Concat(ok));
  EXPECT_EQ(log->size_bytes(), Concat(ok).size());
  // Space comes back: appends succeed again without a restart.
  files.write_budget = -1;
  std::string again = MakeBatch(1, "again");
  auto a = log->Append(Mutable(again));
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->base_offset, Offset(9));
}

TEST_F(PartitionLogTest, SyncFailureFencesThePartitionAndFailsWaiters) {
  testing::FaultyFileFactory files;
  auto log = OpenLog(&files);
  std::string b = MakeBatch(2, "s");
  auto r = log->Append(Mutable(b));
  ASSERT_THAT(r, IsOk());
  absl::Status waiter_status;
  log->AwaitDurable(r->last_offset, [&](absl::Status s) { waiter_status = s; });
  files.fail_sync = true;
  EXPECT_THAT(log->Flush(), HasErrc(StorageErrc::kIoError));
  EXPECT_THAT(waiter_status, HasErrc(StorageErrc::kIoError));
  EXPECT_FALSE(log->fenced().ok());
  EXPECT_EQ(log->durable_offset(), Offset(0));  // never reported durable
  std::string c = MakeBatch(1, "after");
  EXPECT_THAT(log->Append(Mutable(c)), HasErrc(StorageErrc::kFenced));
}

TEST_F(PartitionLogTest, ReopenAfterCloseFindsEverythingWithoutRescan) {
  config_.segment_bytes = 1000;
  std::vector<std::string> batches;
  {
    auto log = OpenLog();
    batches = AppendBatches(*log, 20, 2, 50);
    ASSERT_THAT(log->Close(), IsOk());
  }
  auto log = OpenLog();
  EXPECT_EQ(log->recovery_report().batches_scanned, 0u);
  EXPECT_EQ(log->log_end_offset(), Offset(40));
  EXPECT_EQ(log->durable_offset(), Offset(40));
  EXPECT_EQ(*log->Read(Offset(0), 1 << 20)->ReadAll(), Concat(batches));
}

TEST_F(PartitionLogTest, ConcurrentAppendersAndReadersSeeAConsistentLog) {
  auto log = OpenLog();
  constexpr int kThreads = 4, kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string b = MakeBatch(2, "t" + std::to_string(t));
        auto r = log->Append(Mutable(b));
        ASSERT_THAT(r, IsOk());
        if (i % 50 == 0) {
          std::promise<absl::Status> p;
          log->AwaitDurable(r->last_offset, [&](absl::Status s) { p.set_value(s); });
          std::thread([&] { log->Flush().IgnoreError(); }).join();
          ASSERT_THAT(p.get_future().get(), IsOk());
        }
      }
    });
  }
  std::thread reader([&] {
    for (int i = 0; i < 200; ++i) {
      auto r = log->Read(Offset(0), 1 << 20);
      ASSERT_THAT(r, IsOk());
      auto bytes = r->ReadAll();
      ASSERT_THAT(bytes, IsOk());
      // Every batch read parses and carries consecutive offsets.
      Offset expect(0);
      Bytes rest = AsBytes(*bytes);
      while (!rest.empty()) {
        auto v = RecordBatchView::Parse(rest);
        ASSERT_THAT(v, IsOk());
        ASSERT_EQ(v->base_offset(), expect);
        ASSERT_THAT(v->VerifyCrc(), IsOk());
        expect = v->last_offset() + 1;
        rest = rest.subspan(v->size_bytes());
      }
    }
  });
  for (auto& t : threads) t.join();
  reader.join();
  EXPECT_EQ(log->log_end_offset(), Offset(kThreads * kPerThread * 2));
}

}  // namespace
}  // namespace sluice::storage
