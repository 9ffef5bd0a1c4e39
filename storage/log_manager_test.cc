#include "storage/log_manager.h"

#include <filesystem>
#include <functional>
#include <future>

#include "storage/test_util.h"

namespace sluice::storage {
namespace {

namespace fs = std::filesystem;
using testing::HasErrc;
using testing::IsOk;
using testing::MakeBatch;
using testing::Mutable;
using testing::TempDir;

class LogManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<LogManager> Open(const std::string& dir = "",
                                   const std::function<void(LogManager::Options&)>& tweak = {}) {
    LogManager::Options o;
    o.data_dir = dir.empty() ? dir_.path() : dir;
    o.defaults.flush_ms = 50;
    if (tweak) tweak(o);
    auto lm = LogManager::Open(o);
    EXPECT_THAT(lm, IsOk());
    return lm.ok() ? *std::move(lm) : nullptr;
  }
  TempDir dir_;
};

TEST_F(LogManagerTest, TopicNamesFollowKafkaRules) {
  EXPECT_THAT(LogManager::ValidateTopicName("orders.v2_EU-1"), IsOk());
  EXPECT_THAT(LogManager::ValidateTopicName(std::string(249, 'a')), IsOk());
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a b", "a/b", "ü", std::string(250, 'a')}) {
    EXPECT_THAT(LogManager::ValidateTopicName(bad), HasErrc(StorageErrc::kInvalidTopic)) << bad;
  }
}

TEST_F(LogManagerTest, TopicAndPartitionLimits) {
  auto lm = Open("", [](LogManager::Options& o) {
    o.max_topics = 2;
    o.max_partitions_per_topic = 3;
  });
  ASSERT_NE(lm, nullptr);
  EXPECT_THAT(lm->CreateTopic("a", 4, {}), HasErrc(StorageErrc::kInvalidPartitions));
  EXPECT_THAT(lm->ValidateCreateTopic("a", 0), HasErrc(StorageErrc::kInvalidPartitions));
  ASSERT_THAT(lm->CreateTopic("a", 3, {}), IsOk());
  ASSERT_THAT(lm->CreateTopic("b", 1, {}), IsOk());
  EXPECT_THAT(lm->ValidateCreateTopic("c", 1), HasErrc(StorageErrc::kLimitExceeded));
  EXPECT_THAT(lm->CreateTopic("c", 1, {}), HasErrc(StorageErrc::kLimitExceeded));
  EXPECT_THAT(lm->CreateTopic("b", 1, {}), HasErrc(StorageErrc::kTopicExists));
  EXPECT_THAT(lm->ValidateAddPartitions("b", 4), HasErrc(StorageErrc::kInvalidPartitions));
  EXPECT_THAT(lm->AddPartitions("b", 1), HasErrc(StorageErrc::kInvalidPartitions));
  EXPECT_THAT(lm->ValidateAddPartitions("b", 3), IsOk());
  EXPECT_THAT(lm->AddPartitions("b", 3), IsOk());
  ASSERT_THAT(lm->DeleteTopic("a"), IsOk());
  EXPECT_THAT(lm->CreateTopic("c", 1, {}), IsOk());
  EXPECT_EQ(lm->ListTopics().size(), 2u);
}

TEST_F(LogManagerTest, AppendsKeepTheFreeSpaceReserve) {
  // A reserve larger than any disk: every append fails before writing, and says why.
  auto lm = Open("", [](LogManager::Options& o) { o.min_free_bytes = int64_t{1} << 60; });
  ASSERT_NE(lm, nullptr);
  ASSERT_THAT(lm->CreateTopic("t", 1, {}), IsOk());
  auto log = lm->GetPartition("t", PartitionId(0));
  ASSERT_THAT(log, IsOk());
  std::string batch = MakeBatch(3, "full");
  auto r = (*log)->Append(Mutable(batch));
  EXPECT_THAT(r, HasErrc(StorageErrc::kDiskFull));
  EXPECT_NE(r.status().message().find("(--storage-min-free-bytes)"), std::string::npos)
      << r.status();
  EXPECT_EQ((*log)->log_end_offset(), Offset(0));
  EXPECT_EQ((*log)->size_bytes(), 0u);
}

TEST_F(LogManagerTest, DiskSpaceReserveFollowsTheFileSystem) {
  DiskSpace none(dir_.path(), 0);
  EXPECT_THAT(none.Reserve(uint64_t{1} << 62), IsOk());
  DiskSpace small(dir_.path(), 1);
  ASSERT_GT(small.free_bytes(), 0);
  EXPECT_THAT(small.Reserve(1024), IsOk());
  EXPECT_THAT(small.Reserve(static_cast<uint64_t>(small.free_bytes()) * 2),
              HasErrc(StorageErrc::kDiskFull));
  EXPECT_THAT(small.Reserve(1024), IsOk());  // a refused reservation takes nothing
}

TEST_F(LogManagerTest, CreateListDescribeAndReopen) {
  {
    auto lm = Open();
    meta::TopicConfig cfg;
    ASSERT_THAT(SetTopicConfig(&cfg, "retention.ms", "60000"), IsOk());
    ASSERT_THAT(lm->CreateTopic("orders", 3, cfg), IsOk());
    ASSERT_THAT(lm->CreateTopic("logs", 1, {}), IsOk());
    EXPECT_THAT(lm->CreateTopic("orders", 1, {}), HasErrc(StorageErrc::kTopicExists));
    EXPECT_THAT(lm->CreateTopic("zero", 0, {}), HasErrc(StorageErrc::kInvalidPartitions));
    EXPECT_THAT(lm->CreateTopic("bad/name", 1, {}), HasErrc(StorageErrc::kInvalidTopic));
    auto log = lm->GetPartition("orders", PartitionId(2));
    ASSERT_THAT(log, IsOk());
    std::string b = MakeBatch(3, "x");
    ASSERT_THAT((*log)->Append(Mutable(b)), IsOk());
    EXPECT_THAT(lm->GetPartition("orders", PartitionId(3)), HasErrc(StorageErrc::kUnknownTopic));
    EXPECT_THAT(lm->GetPartition("nope", PartitionId(0)), HasErrc(StorageErrc::kUnknownTopic));
    ASSERT_THAT(lm->Close(), IsOk());
  }
  EXPECT_TRUE(fs::exists(dir_.path() + "/orders-2/00000000000000000000.log"));
  auto lm = Open();
  auto topics = lm->ListTopics();
  ASSERT_EQ(topics.size(), 2u);
  auto d = lm->DescribeTopic("orders");
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->partition_count, 3);
  EXPECT_EQ(d->config.retention_ms, 60000);
  EXPECT_EQ(d->config.segment_bytes, int64_t{1} << 30);  // Kafka's default
  EXPECT_EQ((*lm->GetPartition("orders", PartitionId(2)))->log_end_offset(), Offset(3));
}

TEST_F(LogManagerTest, UnknownConfigIsRejected) {
  meta::TopicConfig cfg;
  EXPECT_THAT(SetTopicConfig(&cfg, "retention.msx", "1"), HasErrc(StorageErrc::kInvalidTopic));
  EXPECT_THAT(SetTopicConfig(&cfg, "segment.bytes", "abc"), HasErrc(StorageErrc::kInvalidTopic));
  EXPECT_THAT(SetTopicConfig(&cfg, "segment.bytes", "1"), HasErrc(StorageErrc::kInvalidTopic));
}

TEST_F(LogManagerTest, DeleteRemovesFilesAndIndexAndNameCanBeReused) {
  auto lm = Open();
  ASSERT_THAT(lm->CreateTopic("t", 2, {}), IsOk());
  std::string b = MakeBatch(5, "old");
  ASSERT_THAT((*lm->GetPartition("t", PartitionId(0)))->Append(Mutable(b)), IsOk());
  auto held = *lm->GetPartition("t", PartitionId(0));
  ASSERT_THAT(lm->DeleteTopic("t"), IsOk());
  EXPECT_FALSE(fs::exists(dir_.path() + "/t-0"));
  EXPECT_THAT(lm->DeleteTopic("t"), HasErrc(StorageErrc::kUnknownTopic));
  // A holder of the old partition gets errors, not the new topic's data.
  std::string late = MakeBatch(1, "late");
  EXPECT_FALSE(held->Append(Mutable(late)).ok());
  ASSERT_THAT(lm->CreateTopic("t", 1, {}), IsOk());
  auto fresh = *lm->GetPartition("t", PartitionId(0));
  EXPECT_EQ(fresh->log_end_offset(), Offset(0));
  auto r = fresh->Read(Offset(0), 1 << 20);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->slices.empty());
}

TEST_F(LogManagerTest, InterruptedCreateIsRolledBackOnOpen) {
  {
    auto lm = Open();
    ASSERT_THAT(lm->CreateTopic("keep", 1, {}), IsOk());
    ASSERT_THAT(lm->Close(), IsOk());
  }
  {
    // Simulate a crash between "CREATING" and "LIVE": write the record and a directory by hand.
    auto meta = MetaStore::Open(dir_.path() + "/meta");
    ASSERT_THAT(meta, IsOk());
    meta::TopicRecord t;
    t.set_name("half");
    t.set_topic_id(99);
    t.set_partition_count(2);
    t.set_state(meta::TopicRecord::CREATING);
    ASSERT_THAT((*meta)->PutTopic(t), IsOk());
    fs::create_directories(dir_.path() + "/half-0");
  }
  auto lm = Open();
  EXPECT_THAT(lm->DescribeTopic("half"), HasErrc(StorageErrc::kUnknownTopic));
  EXPECT_FALSE(fs::exists(dir_.path() + "/half-0"));
  EXPECT_THAT(lm->DescribeTopic("keep"), IsOk());
  EXPECT_THAT(lm->CreateTopic("half", 1, {}), IsOk());
}

TEST_F(LogManagerTest, InterruptedDeleteIsFinishedOnOpen) {
  {
    auto lm = Open();
    ASSERT_THAT(lm->CreateTopic("gone", 2, {}), IsOk());
    ASSERT_THAT(lm->Close(), IsOk());
  }
  {
    auto meta = MetaStore::Open(dir_.path() + "/meta");
    auto topics = (*meta)->ListTopics();
    ASSERT_THAT(topics, IsOk());
    ASSERT_EQ(topics->size(), 1u);
    meta::TopicRecord t = (*topics)[0];
    t.set_state(meta::TopicRecord::DELETING);
    ASSERT_THAT((*meta)->PutTopic(t), IsOk());
  }
  auto lm = Open();
  EXPECT_TRUE(lm->ListTopics().empty());
  EXPECT_FALSE(fs::exists(dir_.path() + "/gone-0"));
  EXPECT_FALSE(fs::exists(dir_.path() + "/gone-1"));
}

TEST_F(LogManagerTest, AddPartitionsKeepsExistingData) {
  auto lm = Open();
  ASSERT_THAT(lm->CreateTopic("grow", 1, {}), IsOk());
  std::string b = MakeBatch(2, "g");
  ASSERT_THAT((*lm->GetPartition("grow", PartitionId(0)))->Append(Mutable(b)), IsOk());
  EXPECT_THAT(lm->AddPartitions("grow", 1), HasErrc(StorageErrc::kInvalidPartitions));
  ASSERT_THAT(lm->AddPartitions("grow", 4), IsOk());
  EXPECT_EQ(lm->DescribeTopic("grow")->partition_count, 4);
  EXPECT_EQ((*lm->GetPartition("grow", PartitionId(0)))->log_end_offset(), Offset(2));
  EXPECT_THAT(lm->GetPartition("grow", PartitionId(3)), IsOk());
  lm.reset();
  lm = Open();
  EXPECT_EQ(lm->DescribeTopic("grow")->partition_count, 4);
}

TEST_F(LogManagerTest, FlusherMakesAwaitedAppendsDurable) {
  auto lm = Open();
  ASSERT_THAT(lm->CreateTopic("d", 1, {}), IsOk());
  auto log = *lm->GetPartition("d", PartitionId(0));
  std::vector<std::future<absl::Status>> acks;
  std::vector<std::shared_ptr<std::promise<absl::Status>>> promises;
  for (int i = 0; i < 20; ++i) {
    std::string b = MakeBatch(1, "d");
    auto r = log->Append(Mutable(b));
    ASSERT_THAT(r, IsOk());
    auto p = std::make_shared<std::promise<absl::Status>>();
    acks.push_back(p->get_future());
    log->AwaitDurable(r->last_offset, [p](absl::Status s) { p->set_value(s); });
  }
  for (auto& f : acks) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_THAT(f.get(), IsOk());
  }
  EXPECT_EQ(log->durable_offset(), Offset(20));
}

TEST_F(LogManagerTest, FlushMsPolicySyncsWithoutWaiters) {
  auto lm = Open();  // flush.ms = 50
  ASSERT_THAT(lm->CreateTopic("bg", 1, {}), IsOk());
  auto log = *lm->GetPartition("bg", PartitionId(0));
  std::string b = MakeBatch(3, "bg");
  ASSERT_THAT(log->Append(Mutable(b)), IsOk());
  for (int i = 0; i < 500 && log->durable_offset() < Offset(3); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(log->durable_offset(), Offset(3));
}

TEST_F(LogManagerTest, ApplyRetentionRunsOnEveryPartition) {
  auto lm = Open();
  meta::TopicConfig cfg;
  ASSERT_THAT(SetTopicConfig(&cfg, "segment.bytes", "500"), IsOk());
  ASSERT_THAT(SetTopicConfig(&cfg, "retention.bytes", "1000"), IsOk());
  ASSERT_THAT(lm->CreateTopic("r", 2, cfg), IsOk());
  for (int p = 0; p < 2; ++p) {
    auto log = *lm->GetPartition("r", PartitionId(p));
    for (int i = 0; i < 30; ++i) {
      std::string b = MakeBatch(1, "r", 0, 100);
      ASSERT_THAT(log->Append(Mutable(b)), IsOk());
    }
  }
  auto n = lm->ApplyRetention();
  ASSERT_THAT(n, IsOk());
  EXPECT_GT(*n, 2);
  for (int p = 0; p < 2; ++p) {
    auto log = *lm->GetPartition("r", PartitionId(p));
    EXPECT_GT(log->log_start_offset(), Offset(0));
    EXPECT_LT(log->size_bytes(), 1600u);
  }
}

}  // namespace
}  // namespace sluice::storage
