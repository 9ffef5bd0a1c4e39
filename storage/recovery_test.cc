// Crash recovery of a partition: torn and corrupt tails, lost index tails, many random cut points.
//
// A "crash image" is a copy of the data dir taken while the log is open and idle: the files hold
// what a killed process left (RocksDB's WAL-less index memtable is lost, as in kill -9). Each case
// damages a copy of the image the way a crash can and reopens it.

#include <filesystem>
#include <fstream>
#include <random>

#include "storage/partition_log.h"
#include "storage/test_util.h"

namespace sluice::storage {
namespace {

namespace fs = std::filesystem;
using testing::IsOk;
using testing::MakeBatch;
using testing::Mutable;
using testing::TempDir;

const PartitionKey kKey{1, PartitionId(0)};

struct WrittenBatch {
  Offset base{0};
  Offset next{0};  // offset after the batch
  Offset segment{0};
  uint64_t position = 0;
  std::string bytes;
};

class LogRecoveryTest : public ::testing::Test {
 protected:
  std::shared_ptr<PartitionLog> OpenLog(const std::string& root, MetaStore* meta) {
    PartitionLog::Options o;
    o.dir = root + "/t-0";
    o.key = kKey;
    o.meta = meta;
    o.config = config_;
    auto log = PartitionLog::Open(std::move(o));
    EXPECT_THAT(log, IsOk());
    return log.ok() ? *log : nullptr;
  }

  // Writes `n` batches of random shape into dir_/image and leaves a crash image of it in image_.
  // With `checkpoint_after` >= 0, the log is flushed (checkpointed) after that many batches.
  void WriteImage(int n, uint32_t seed, int checkpoint_after = -1) {
    std::mt19937 rng(seed);
    std::string root = dir_.path() + "/live";
    auto meta = MetaStore::Open(root + "/meta");
    ASSERT_THAT(meta, IsOk());
    auto log = OpenLog(root, meta->get());
    for (int i = 0; i < n; ++i) {
      int records = 1 + static_cast<int>(rng() % 8);
      size_t value = rng() % 300;
      std::string b = MakeBatch(records, "r" + std::to_string(i), 1000 + i, value);
      auto r = log->Append(Mutable(b));
      ASSERT_THAT(r, IsOk());
      auto e = (*meta)->FindBatch(kKey, r->base_offset);
      ASSERT_THAT(e, IsOk());
      ASSERT_TRUE(e->has_value());
      written_.push_back({r->base_offset, r->last_offset + 1, (*e)->segment_base, (*e)->position, b});
      if (i + 1 == checkpoint_after) {
        ASSERT_THAT(log->Flush(), IsOk());
      }
    }
    image_ = dir_.path() + "/image";
    fs::copy(root, image_, fs::copy_options::recursive);
    ASSERT_THAT(log->Close(), IsOk());
  }

  // A fresh copy of the crash image.
  std::string CopyImage() {
    std::string root = dir_.path() + "/case" + std::to_string(cases_++);
    fs::copy(image_, root, fs::copy_options::recursive);
    return root;
  }

  std::string SegmentPath(const std::string& root, Offset seg) {
    return root + "/t-0/" + Segment::FileName(seg);
  }

  // Reopens `root` and checks: exactly the batches before `survivors` are served, byte-exact;
  // the log end follows them; the log takes new appends; a second reopen agrees.
  void ExpectRecoversTo(const std::string& root, size_t survivors) {
    SCOPED_TRACE("survivors=" + std::to_string(survivors));
    auto meta = MetaStore::Open(root + "/meta");
    ASSERT_THAT(meta, IsOk());
    Offset end = survivors == 0 ? Offset(0) : written_[survivors - 1].next;
    {
      auto log = OpenLog(root, meta->get());
      ASSERT_NE(log, nullptr);
      EXPECT_EQ(log->log_end_offset(), end);
      auto r = log->Read(Offset(0), 1 << 30);
      ASSERT_THAT(r, IsOk());
      auto bytes = r->ReadAll();
      ASSERT_THAT(bytes, IsOk());
      std::string expect;
      for (size_t i = 0; i < survivors; ++i) expect += written_[i].bytes;
      ASSERT_EQ(bytes->size(), expect.size());
      EXPECT_TRUE(*bytes == expect) << "recovered bytes differ";
      // Every surviving batch is individually findable through the rebuilt index.
      for (size_t i = 0; i < survivors; i += 7) {
        auto one = log->Read(written_[i].base, 1);
        ASSERT_THAT(one, IsOk());
        EXPECT_EQ(*one->ReadAll(), written_[i].bytes);
      }
      std::string next = MakeBatch(2, "after-crash");
      auto a = log->Append(Mutable(next));
      ASSERT_THAT(a, IsOk());
      EXPECT_EQ(a->base_offset, end);
      ASSERT_THAT(log->Close(), IsOk());
    }
    auto log = OpenLog(root, meta->get());
    EXPECT_EQ(log->recovery_report().bytes_truncated, 0u);
    EXPECT_EQ(log->log_end_offset(), end + 2);
  }

  static void TruncateFile(const std::string& path, uint64_t size) {
    fs::resize_file(path, size);
  }
  static void FlipByte(const std::string& path, uint64_t at) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  }

  TempDir dir_;
  LogConfig config_ = [] {
    LogConfig c;
    c.flush_ms = LogConfig::kNever;  // no background checkpoints: the image's is at offset 0
    return c;
  }();
  std::vector<WrittenBatch> written_;
  std::string image_;
  int cases_ = 0;
};

TEST_F(LogRecoveryTest, IntactImageRebuildsTheLostIndex) {
  WriteImage(50, 1);
  std::string root = CopyImage();
  ExpectRecoversTo(root, 50);
}

TEST_F(LogRecoveryTest, TornLengthPrefixIsCut) {
  WriteImage(20, 2);
  const auto& victim = written_[12];
  std::string root = CopyImage();
  TruncateFile(SegmentPath(root, victim.segment), victim.position + 5);
  ExpectRecoversTo(root, 12);
}

TEST_F(LogRecoveryTest, TornHeaderIsCut) {
  WriteImage(20, 3);
  const auto& victim = written_[19];
  std::string root = CopyImage();
  TruncateFile(SegmentPath(root, victim.segment), victim.position + 30);
  ExpectRecoversTo(root, 19);
}

TEST_F(LogRecoveryTest, TornPayloadIsCut) {
  WriteImage(20, 4);
  const auto& victim = written_[10];
  std::string root = CopyImage();
  TruncateFile(SegmentPath(root, victim.segment), victim.position + victim.bytes.size() - 1);
  ExpectRecoversTo(root, 10);
}

TEST_F(LogRecoveryTest, FlippedCrcByteCutsThatBatchAndEverythingAfter) {
  WriteImage(20, 5);
  const auto& victim = written_[7];
  std::string root = CopyImage();
  FlipByte(SegmentPath(root, victim.segment), victim.position + kCrcOffset + 2);
  ExpectRecoversTo(root, 7);
}

TEST_F(LogRecoveryTest, FlippedPayloadByteCutsThatBatch) {
  WriteImage(20, 6);
  const auto& victim = written_[3];
  std::string root = CopyImage();
  FlipByte(SegmentPath(root, victim.segment), victim.position + victim.bytes.size() - 3);
  ExpectRecoversTo(root, 3);
}

TEST_F(LogRecoveryTest, GarbageLengthPrefixIsCut) {
  WriteImage(10, 7);
  const auto& victim = written_[5];
  std::string root = CopyImage();
  FlipByte(SegmentPath(root, victim.segment), victim.position + 8);  // batchLength's top byte
  ExpectRecoversTo(root, 5);
}

TEST_F(LogRecoveryTest, DeletedIndexTailIsRebuiltAfterCleanClose) {
  WriteImage(30, 8);
  // A clean shutdown's image: checkpoint at the end, then the index loses its tail.
  std::string root = dir_.path() + "/clean";
  fs::copy(dir_.path() + "/live", root, fs::copy_options::recursive);
  {
    auto meta = MetaStore::Open(root + "/meta");
    ASSERT_THAT(meta, IsOk());
    ASSERT_THAT((*meta)->DeleteBatchesFrom(kKey, written_[17].base), IsOk());
  }
  auto meta = MetaStore::Open(root + "/meta");
  auto log = OpenLog(root, meta->get());
  EXPECT_EQ(log->recovery_report().batches_scanned, 13u);
  EXPECT_EQ(log->log_end_offset(), written_.back().next);
  for (size_t i = 0; i < written_.size(); ++i) {
    auto r = log->Read(written_[i].base, 1);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(*r->ReadAll(), written_[i].bytes) << "batch " << i;
  }
}

TEST_F(LogRecoveryTest, CheckpointBoundsTheScan) {
  WriteImage(40, 9, /*checkpoint_after=*/25);
  std::string root = CopyImage();
  {
    auto meta = MetaStore::Open(root + "/meta");
    auto log = OpenLog(root, meta->get());
    // The index survived in the image only up to what RocksDB persisted; the scan starts no
    // later than the checkpoint, so at most the 15 batches after it (plus any lost index tail).
    EXPECT_GE(log->recovery_report().batches_scanned, 15u);
    EXPECT_EQ(log->log_end_offset(), written_.back().next);
  }
  std::string torn = CopyImage();
  const auto& victim = written_[31];
  TruncateFile(SegmentPath(torn, victim.segment), victim.position + 20);
  ExpectRecoversTo(torn, 31);
}

TEST_F(LogRecoveryTest, CutInAnEarlierSegmentRemovesLaterSegments) {
  config_.segment_bytes = 2000;
  WriteImage(60, 10);
  // Find a batch in the middle of a segment that has later segments.
  size_t victim_i = 0;
  for (size_t i = 20; i < written_.size(); ++i) {
    if (written_[i].position > 0 && written_[i].segment != written_.back().segment) {
      victim_i = i;
      break;
    }
  }
  ASSERT_GT(victim_i, 0u);
  std::string root = CopyImage();
  FlipByte(SegmentPath(root, written_[victim_i].segment), written_[victim_i].position + 40);
  ExpectRecoversTo(root, victim_i);
  EXPECT_FALSE(fs::exists(SegmentPath(root, written_.back().segment)));
}

TEST_F(LogRecoveryTest, RandomCutPointsNeverServeABadByte) {
  config_.segment_bytes = 3000;
  WriteImage(80, 11);
  std::mt19937 rng(1234);
  constexpr int kCases = 40;
  for (int c = 0; c < kCases; ++c) {
    size_t victim_i = rng() % written_.size();
    const auto& victim = written_[victim_i];
    std::string root = CopyImage();
    std::string seg = SegmentPath(root, victim.segment);
    uint64_t within = rng() % victim.bytes.size();
    switch (rng() % 3) {
      case 0:  // torn write: the file ends inside the victim
        TruncateFile(seg, victim.position + within);
        break;
      case 1:  // corruption inside the victim (any byte but the patched baseOffset)
        if (within < 8) within = 8 + within;
        if (within >= 12 && within < 17) within = 17;  // leader epoch is outside the CRC
        FlipByte(seg, victim.position + within);
        break;
      case 2:  // torn write plus garbage after it
        TruncateFile(seg, victim.position + within);
        {
          std::ofstream f(seg, std::ios::app | std::ios::binary);
          std::string junk(100 + rng() % 100, '\0');
          for (auto& ch : junk) ch = static_cast<char>(rng());
          f << junk;
        }
        break;
    }
    SCOPED_TRACE("case " + std::to_string(c) + " victim " + std::to_string(victim_i) +
                 " byte " + std::to_string(within));
    ExpectRecoversTo(root, victim_i);
    fs::remove_all(root);
  }
}

}  // namespace
}  // namespace sluice::storage
