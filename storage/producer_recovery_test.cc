// Idempotent producer state across restarts: the snapshot written with the checkpoint, the
// replay of batches after it from crash images, truncation and damage below the checkpoint.
//
// As in recovery_test.cc, a "crash image" is a copy of the data dir taken while the log is open:
// RocksDB's WAL (checkpoint, snapshot) survives, its WAL-less index memtable does not.

#include <filesystem>
#include <fstream>
#include <map>

#include "storage/partition_log.h"
#include "storage/producer_state.h"
#include "storage/test_util.h"

namespace sluice::storage {
namespace {

namespace fs = std::filesystem;
using testing::HasErrc;
using testing::IsOk;
using testing::MakeBatch;
using testing::MakeProducerBatch;
using testing::Mutable;
using testing::TempDir;

const PartitionKey kKey{1, PartitionId(0)};

struct Sent {
  int64_t pid;
  int16_t epoch;
  int32_t seq;
  int count;
  AppendResult result;
};

class ProducerRecoveryTest : public ::testing::Test {
 protected:
  std::string Live() const { return dir_.path() + "/live"; }

  void OpenLive() {
    auto m = MetaStore::Open(Live() + "/meta");
    ASSERT_THAT(m, IsOk());
    meta_ = *std::move(m);
    log_ = OpenLog(Live(), meta_.get());
    ASSERT_NE(log_, nullptr);
  }

  std::shared_ptr<PartitionLog> OpenLog(const std::string& root, MetaStore* meta) {
    PartitionLog::Options o;
    o.dir = root + "/t-0";
    o.key = kKey;
    o.meta = meta;
    o.config = config_;
    o.now_ms = [this] { return now_; };
    auto log = PartitionLog::Open(std::move(o));
    EXPECT_THAT(log, IsOk());
    return log.ok() ? *log : nullptr;
  }

  static absl::StatusOr<AppendResult> Send(PartitionLog& log, int64_t pid, int16_t epoch,
                                           int32_t seq, int count = 2) {
    std::string b = MakeProducerBatch(pid, epoch, seq, count, "v" + std::to_string(seq));
    return log.Append(Mutable(b));
  }

  // Appends `n` in-sequence batches of `pid` to the live log, continuing its sequence.
  void SendMany(int64_t pid, int16_t epoch, int n, int count = 2) {
    for (int i = 0; i < n; ++i) {
      int32_t& seq = next_seq_[{pid, epoch}];
      auto r = Send(*log_, pid, epoch, seq, count);
      ASSERT_THAT(r, IsOk());
      ASSERT_FALSE(r->duplicate);
      sent_.push_back({pid, epoch, seq, count, *r});
      seq += count;
    }
  }

  std::map<int64_t, ProducerEntry> StateOf(PartitionLog& log) const {
    std::map<int64_t, ProducerEntry> out;
    for (const auto& [key, seq] : next_seq_) {
      if (auto e = log.producer_state(key.first)) out[key.first] = *e;
    }
    return out;
  }

  static void ExpectSameState(const std::map<int64_t, ProducerEntry>& want,
                              const std::map<int64_t, ProducerEntry>& got) {
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [pid, e] : want) {
      SCOPED_TRACE("producer " + std::to_string(pid));
      ASSERT_TRUE(got.contains(pid));
      EXPECT_EQ(got.at(pid).epoch, e.epoch);
      EXPECT_TRUE(got.at(pid).batches == e.batches);
    }
  }

  // Every batch of sent_[from, to) is recognised as a duplicate with its original offsets, and
  // the log does not grow.
  void ExpectDuplicates(PartitionLog& log, size_t from, size_t to) {
    std::vector<size_t> which;
    for (size_t i = from; i < to; ++i) which.push_back(i);
    ExpectDuplicates(log, which);
  }
  void ExpectDuplicates(PartitionLog& log, const std::vector<size_t>& which) {
    Offset end = log.log_end_offset();
    for (size_t i : which) {
      const Sent& s = sent_[i];
      auto r = Send(log, s.pid, s.epoch, s.seq, s.count);
      ASSERT_THAT(r, IsOk()) << "batch " << i;
      EXPECT_TRUE(r->duplicate) << "batch " << i;
      EXPECT_EQ(r->base_offset, s.result.base_offset) << "batch " << i;
      EXPECT_EQ(r->last_offset, s.result.last_offset) << "batch " << i;
    }
    EXPECT_EQ(log.log_end_offset(), end);
  }

  std::string CrashImage() {
    std::string root = dir_.path() + "/image" + std::to_string(images_++);
    fs::copy(Live(), root, fs::copy_options::recursive);
    return root;
  }

  // Drops the live log without Close() (no final checkpoint), then closes RocksDB cleanly so the
  // index survives complete: a process killed after the index memtable happened to be flushed.
  void KillKeepingTheIndex() {
    log_.reset();
    ASSERT_THAT(meta_->Close(), IsOk());
    meta_.reset();
  }

  TempDir dir_;
  LogConfig config_ = [] {
    LogConfig c;
    c.flush_ms = LogConfig::kNever;  // checkpoints only where a test flushes
    return c;
  }();
  int64_t now_ = 1'700'000'000'000;
  std::unique_ptr<MetaStore> meta_;
  std::shared_ptr<PartitionLog> log_;
  std::map<std::pair<int64_t, int16_t>, int32_t> next_seq_;
  std::vector<Sent> sent_;
  int images_ = 0;
};

TEST_F(ProducerRecoveryTest, CleanCloseKeepsTheStateWithoutAScan) {
  OpenLive();
  SendMany(1, 0, 7);
  SendMany(2, 0, 2);
  SendMany(2, 1, 3);  // epoch bump: epoch-0 batches are forgotten
  auto want = StateOf(*log_);
  ASSERT_THAT(log_->Close(), IsOk());
  log_.reset();
  auto snap = meta_->GetProducerSnapshot(kKey);
  ASSERT_THAT(snap, IsOk());
  ASSERT_TRUE(snap->has_value());
  meta_.reset();

  OpenLive();
  EXPECT_EQ(log_->recovery_report().batches_scanned, 0u);
  ExpectSameState(want, StateOf(*log_));
  ExpectDuplicates(*log_, 2, 7);      // the last 5 of producer 1
  ExpectDuplicates(*log_, 9, 12);     // producer 2's epoch-1 batches
  EXPECT_THAT(Send(*log_, 1, 0, 0), HasErrc(StorageErrc::kOutOfOrderSequence));  // 6th oldest
  EXPECT_THAT(Send(*log_, 2, 0, 2), HasErrc(StorageErrc::kInvalidProducerEpoch));
  EXPECT_THAT(Send(*log_, 1, 0, 16), HasErrc(StorageErrc::kOutOfOrderSequence));  // gap
  auto next = Send(*log_, 1, 0, 14);
  ASSERT_THAT(next, IsOk());
  EXPECT_FALSE(next->duplicate);
}

TEST_F(ProducerRecoveryTest, PlainBatchesWriteNoSnapshot) {
  OpenLive();
  std::string b = MakeBatch(3, "plain");
  ASSERT_THAT(log_->Append(Mutable(b)), IsOk());
  ASSERT_THAT(log_->Close(), IsOk());
  auto snap = meta_->GetProducerSnapshot(kKey);
  ASSERT_THAT(snap, IsOk());
  EXPECT_FALSE(snap->has_value());
}

TEST_F(ProducerRecoveryTest, CrashWithoutCheckpointReplaysTheWholeLog) {
  OpenLive();
  SendMany(1, 0, 8);
  SendMany(3, 2, 4, 5);
  auto want = StateOf(*log_);
  std::string root = CrashImage();
  auto meta = MetaStore::Open(root + "/meta");
  ASSERT_THAT(meta, IsOk());
  auto log = OpenLog(root, meta->get());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery_report().batches_scanned, 12u);
  ExpectSameState(want, StateOf(*log));
  ExpectDuplicates(*log, 3, 12);
}

TEST_F(ProducerRecoveryTest, CrashAfterCheckpointReplaysBatchesAfterIt) {
  OpenLive();
  SendMany(1, 0, 4);
  SendMany(2, 0, 3);
  ASSERT_THAT(log_->Flush(), IsOk());  // checkpoint and snapshot at offset 14
  Offset checkpoint = log_->log_end_offset();
  SendMany(1, 0, 3);  // producer 1's cached batches now straddle the checkpoint
  SendMany(2, 1, 1);  // producer 2 bumps its epoch after it
  SendMany(4, 0, 2);  // producer 4 exists only after it
  auto want = StateOf(*log_);
  std::string root = CrashImage();
  auto meta = MetaStore::Open(root + "/meta");
  ASSERT_THAT(meta, IsOk());
  {
    // The image's snapshot is the one written with its checkpoint, without the later batches.
    auto cp = (*meta)->GetCheckpoint(kKey);
    ASSERT_TRUE(cp.ok() && cp->has_value());
    EXPECT_EQ((*cp)->next_offset, checkpoint);
    auto bytes = (*meta)->GetProducerSnapshot(kKey);
    ASSERT_TRUE(bytes.ok() && bytes->has_value());
    auto snap = ProducerStateTable::Decode(**bytes);
    ASSERT_THAT(snap, IsOk());
    EXPECT_EQ(snap->as_of, checkpoint);
    EXPECT_EQ(snap->table.size(), 2u);
    EXPECT_EQ(snap->table.Find(1)->batches.size(), 4u);
  }
  auto log = OpenLog(root, meta->get());
  ASSERT_NE(log, nullptr);
  // The index memtable was lost, so the scan started before the checkpoint: the batches before
  // it come from the snapshot, not a second time from the scan.
  EXPECT_EQ(log->recovery_report().batches_scanned, 13u);
  ExpectSameState(want, StateOf(*log));
  ExpectDuplicates(*log, {2, 3, 7, 8, 9});  // producer 1: two before the checkpoint, three after
  ExpectDuplicates(*log, 10, 13);           // producer 2's new epoch, producer 4
  EXPECT_THAT(Send(*log, 2, 0, 6), HasErrc(StorageErrc::kInvalidProducerEpoch));
  // A second restart, clean this time, agrees.
  ASSERT_THAT(log->Close(), IsOk());
  log.reset();
  auto again = OpenLog(root, meta->get());
  EXPECT_EQ(again->recovery_report().batches_scanned, 0u);
  ExpectSameState(want, StateOf(*again));
}

TEST_F(ProducerRecoveryTest, ScanFromTheCheckpointWhenTheIndexSurvived) {
  OpenLive();
  SendMany(1, 0, 6);
  ASSERT_THAT(log_->Flush(), IsOk());
  SendMany(1, 0, 3);
  auto want = StateOf(*log_);
  KillKeepingTheIndex();
  OpenLive();
  EXPECT_EQ(log_->recovery_report().batches_scanned, 3u);
  ExpectSameState(want, StateOf(*log_));
  ExpectDuplicates(*log_, 4, 9);
}

TEST_F(ProducerRecoveryTest, CheckpointSegmentDeletedReplaysFromTheIndex) {
  config_.segment_bytes = 400;  // a few batches per segment
  OpenLive();
  SendMany(1, 0, 3);
  ASSERT_THAT(log_->Flush(), IsOk());
  ASSERT_EQ(log_->segment_count(), 1u);
  SendMany(1, 0, 12);
  SendMany(5, 0, 2);
  ASSERT_GT(log_->segment_count(), 2u);
  // DeleteRecords past the checkpoint's segment: the checkpoint now points at a deleted file.
  ASSERT_THAT(log_->DeleteRecordsBefore(sent_[10].result.base_offset), IsOk());
  ASSERT_GT(log_->log_start_offset(), Offset(6));
  auto want = StateOf(*log_);  // producer state outlives the deleted batches
  KillKeepingTheIndex();
  OpenLive();
  // Nothing needed scanning (the index is complete and verified), yet every batch after the
  // checkpoint reached the producer state.
  EXPECT_EQ(log_->recovery_report().batches_scanned, 0u);
  ExpectSameState(want, StateOf(*log_));
  ExpectDuplicates(*log_, 10, 17);
}

TEST_F(ProducerRecoveryTest, DamageBelowTheCheckpointForgetsTheLostBatches) {
  OpenLive();
  SendMany(1, 0, 10);
  ASSERT_THAT(log_->Flush(), IsOk());  // the snapshot knows batches 5..9
  std::string root = CrashImage();
  {
    // Lose the index too, so recovery scans (and checks) from the first byte.
    auto meta = MetaStore::Open(root + "/meta");
    ASSERT_THAT(meta, IsOk());
    ASSERT_THAT((*meta)->DeleteBatchesFrom(kKey, Offset(0)), IsOk());
  }
  auto e = meta_->FindBatch(kKey, sent_[7].result.base_offset);
  ASSERT_TRUE(e.ok() && e->has_value());
  {
    std::fstream f(root + "/t-0/" + Segment::FileName((*e)->segment_base),
                   std::ios::in | std::ios::out | std::ios::binary);
    auto at = static_cast<std::streamoff>((*e)->position + (*e)->size - 2);  // in a value
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  auto meta = MetaStore::Open(root + "/meta");
  ASSERT_THAT(meta, IsOk());
  auto log = OpenLog(root, meta->get());
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(log->log_end_offset(), sent_[7].result.base_offset);
  auto st = log->producer_state(1);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->batches.back().base_offset, sent_[6].result.base_offset);
  ExpectDuplicates(*log, 5, 7);
  // Batch 7 is gone from the log: its retry must be appended, not answered as a duplicate.
  auto retry = Send(*log, 1, 0, sent_[7].seq);
  ASSERT_THAT(retry, IsOk());
  EXPECT_FALSE(retry->duplicate);
  EXPECT_EQ(retry->base_offset, sent_[7].result.base_offset);
}

TEST_F(ProducerRecoveryTest, TruncationSurvivesCrashAndCleanRestart) {
  OpenLive();
  SendMany(1, 0, 8);
  SendMany(2, 0, 1);
  ASSERT_THAT(log_->Flush(), IsOk());
  ASSERT_THAT(log_->TruncateTo(sent_[5].result.base_offset), IsOk());
  auto want = StateOf(*log_);
  ASSERT_EQ(want.size(), 1u);  // producer 2's only batch was truncated
  EXPECT_EQ(want.at(1).batches.back().base_offset, sent_[4].result.base_offset);
  std::string root = CrashImage();
  ASSERT_THAT(log_->Close(), IsOk());
  log_.reset();
  meta_.reset();
  for (const std::string& r : {root, Live()}) {
    SCOPED_TRACE(r);
    auto meta = MetaStore::Open(r + "/meta");
    ASSERT_THAT(meta, IsOk());
    auto log = OpenLog(r, meta->get());
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->log_end_offset(), sent_[5].result.base_offset);
    ExpectSameState(want, StateOf(*log));
    ExpectDuplicates(*log, 3, 5);  // what is left of the 5 cached batches
    auto retry = Send(*log, 1, 0, sent_[5].seq);
    ASSERT_THAT(retry, IsOk());
    EXPECT_FALSE(retry->duplicate);
    EXPECT_EQ(retry->base_offset, sent_[5].result.base_offset);
  }
}

TEST_F(ProducerRecoveryTest, MalformedSnapshotIsReplacedNotFatal) {
  OpenLive();
  SendMany(1, 0, 3);
  ASSERT_THAT(log_->Flush(), IsOk());
  Offset checkpoint = log_->log_end_offset();
  SendMany(1, 0, 2);
  std::string root = CrashImage();
  {
    // Damage the image's snapshot, keeping its checkpoint.
    auto meta = MetaStore::Open(root + "/meta");
    ASSERT_THAT(meta, IsOk());
    auto cp = (*meta)->GetCheckpoint(kKey);
    ASSERT_TRUE(cp.ok() && cp->has_value());
    ASSERT_THAT((*meta)->PutCheckpoint(kKey, **cp, true, std::string("\x01garbage")), IsOk());
  }
  auto meta = MetaStore::Open(root + "/meta");
  ASSERT_THAT(meta, IsOk());
  auto log = OpenLog(root, meta->get());
  ASSERT_NE(log, nullptr);
  // Only the batches after the checkpoint are known; the earlier ones are not duplicates any more.
  auto st = log->producer_state(1);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(st->batches.size(), 2u);
  EXPECT_EQ(st->batches.front().base_offset, checkpoint);
  ExpectDuplicates(*log, 3, 5);
  // Recovery's own checkpoint replaced the damaged snapshot.
  auto bytes = (*meta)->GetProducerSnapshot(kKey);
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  auto snap = ProducerStateTable::Decode(**bytes);
  ASSERT_THAT(snap, IsOk());
  EXPECT_EQ(snap->table.Find(1)->batches.size(), 2u);
}

TEST_F(ProducerRecoveryTest, ProducersIdleLongerThanTheExpirationAreNotRestored) {
  OpenLive();
  SendMany(1, 0, 2);
  now_ += 3600'000;
  SendMany(2, 0, 2);
  ASSERT_THAT(log_->Close(), IsOk());
  log_.reset();
  meta_.reset();
  now_ += ProducerStateTable::kDefaultExpirationMs - 3600'000;  // producer 1 idle for a day
  OpenLive();
  EXPECT_FALSE(log_->producer_state(1).has_value());
  EXPECT_TRUE(log_->producer_state(2).has_value());
  ExpectDuplicates(*log_, 2, 4);
}

}  // namespace
}  // namespace sluice::storage
