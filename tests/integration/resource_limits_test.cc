// Configured limits and a full disk, against the real `sluiced` over the Kafka protocol (raw
// frames from the generated message structs; ephemeral loopback ports; every wait bounded; the
// broker stopped by PID).
//
//   TopicAndPartitionLimits       --max-topics, --max-partitions-per-topic: exact error codes, also
//                                 for validate-only and auto-creation; a deleted topic frees a slot
//   RequestTimeoutCutsLongPolls   --request-timeout-ms bounds a fetch's max_wait_ms
//   DiskFull...                   the data dir on a small tmpfs (mounted by the test, as root):
//                                 KAFKA_STORAGE_ERROR and no acknowledgement while full, reads go
//                                 on, produce recovers without a restart once a topic deletion
//                                 frees space, nothing acknowledged is lost across a restart
//   FailedFsyncFencesOnlyThatPartition  an injected fdatasync error (SLUICE_FAULT_INJECTION):
//                                 KAFKA_STORAGE_ERROR, the partition fenced (in /metrics and the
//                                 log) until a restart, other partitions unaffected
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/kafka_requests.h"
#include "tests/integration/kafka_test_conn.h"
#include "tests/integration/sluiced_process.h"

namespace sluice {
namespace {

using e2e::BrokerProcess;
using e2e::Clock;
using e2e::HttpGet;
using kafka_test::KafkaConn;
using namespace kafka_test;  // NOLINT: the request and batch helpers
using std::chrono::milliseconds;

constexpr int16_t kNone = 0;
constexpr int16_t kTopicAlreadyExists = 36;
constexpr int16_t kInvalidPartitions = 37;
constexpr int16_t kPolicyViolation = 44;
constexpr int16_t kKafkaStorageError = 56;

class BrokerFixture : public ::testing::Test {
 protected:
  // Starts sluiced with `flags` in a fresh dir; `data_mount` (if set) is called with the data
  // dir's path before the start, to mount a file system there.
  void StartBroker(std::vector<std::string> flags) {
    if (dir_.empty()) dir_ = e2e::MakeTempDir("sluice-limits");
    ASSERT_FALSE(dir_.empty());
    flags.insert(flags.end(), {"--log-level", "debug"});
    broker_ = std::make_unique<BrokerProcess>(SLUICED_PATH, dir_, flags);
    ASSERT_TRUE(broker_->Start()) << "sluiced did not start; log:\n" << broker_->Log();
  }

  void TearDown() override {
    if (broker_) {
      EXPECT_EQ(broker_->Stop(), 0) << broker_->Log();
      if (HasFailure()) std::cerr << "---- sluiced log ----\n" << broker_->Log();
    }
    if (mounted_) {
      if (umount2(data_dir().c_str(), MNT_DETACH) != 0) {
        ADD_FAILURE() << "umount " << data_dir() << ": " << std::strerror(errno);
      }
    }
    std::error_code ec;
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  std::string data_dir() const { return dir_ + "/data"; }

  std::unique_ptr<KafkaConn> Connect() {
    auto c = std::make_unique<KafkaConn>("resource-limits-test");
    EXPECT_TRUE(c->Connect(broker_->kafka_port));
    return c;
  }

  msg::CreateTopicsResponse::CreatableTopicResult CreateTopic(KafkaConn& c, const std::string& name,
                                                              int32_t partitions,
                                                              bool validate_only = false) {
    msg::CreateTopicsRequest req;
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = partitions;
    t.replication_factor = 1;
    req.timeout_ms = 10000;
    req.validate_only = validate_only;
    msg::CreateTopicsResponse resp;
    EXPECT_TRUE(c.Call(req, 4, &resp));
    if (resp.topics.size() != 1) {
      ADD_FAILURE() << "expected one topic in the CreateTopics response";
      return {};
    }
    return resp.topics[0];
  }

  int16_t DeleteTopic(KafkaConn& c, const std::string& name) {
    msg::DeleteTopicsRequest req;
    req.topic_names = {name};
    req.timeout_ms = 10000;
    msg::DeleteTopicsResponse resp;
    EXPECT_TRUE(c.Call(req, 3, &resp));
    return resp.responses.size() == 1 ? resp.responses[0].error_code : int16_t{-1};
  }

  ProducePartition Produce(KafkaConn& c, const std::string& topic, std::string batch) {
    msg::ProduceResponse resp;
    EXPECT_TRUE(c.Call(ProduceReq(topic, 0, batch), 7, &resp));
    return OnlyPartition(resp);
  }

  // Every record batch of partition 0 from `offset` on, as stored (one fetch of up to 64 MiB).
  std::string FetchAll(KafkaConn& c, const std::string& topic, int64_t offset) {
    msg::FetchRequest req = FetchReq(topic, 0, offset, 0, 0, 64 << 20);
    req.max_bytes = 64 << 20;
    msg::FetchResponse resp;
    EXPECT_TRUE(c.Call(req, 11, &resp));
    const FetchPartition* p = OnlyPartition(resp);
    if (p == nullptr) return "";
    EXPECT_EQ(p->error_code, kNone);
    return Copy(p->records);
  }

  std::string dir_;
  std::unique_ptr<BrokerProcess> broker_;
  bool mounted_ = false;
};

// ---------------------------------------------------------------- limits

using LimitsTest = BrokerFixture;

TEST_F(LimitsTest, TopicAndPartitionLimits) {
  StartBroker({"--max-topics", "2", "--max-partitions-per-topic", "4"});
  auto c = Connect();

  auto r = CreateTopic(*c, "wide", 5);
  EXPECT_EQ(r.error_code, kInvalidPartitions);
  EXPECT_NE(r.error_message.value_or("").find("--max-partitions-per-topic"), std::string::npos)
      << r.error_message.value_or("");
  EXPECT_EQ(CreateTopic(*c, "wide", 5, /*validate_only=*/true).error_code, kInvalidPartitions);

  EXPECT_EQ(CreateTopic(*c, "a", 4).error_code, kNone);
  EXPECT_EQ(CreateTopic(*c, "b", 1).error_code, kNone);
  EXPECT_EQ(CreateTopic(*c, "b", 1).error_code, kTopicAlreadyExists);

  // The third topic: refused, for validate-only too, and by auto-creation on Metadata.
  r = CreateTopic(*c, "c", 1);
  EXPECT_EQ(r.error_code, kPolicyViolation);
  EXPECT_EQ(r.error_message.value_or(""),
            "the broker holds its limit of 2 topics (--max-topics); delete one or raise the limit");
  EXPECT_EQ(CreateTopic(*c, "c", 1, /*validate_only=*/true).error_code, kPolicyViolation);
  msg::MetadataRequest md;
  md.topics.emplace().emplace_back().name = "auto";
  md.allow_auto_topic_creation = true;
  msg::MetadataResponse mr;
  ASSERT_TRUE(c->Call(md, 8, &mr));
  ASSERT_EQ(mr.topics.size(), 1u);
  EXPECT_EQ(mr.topics[0].error_code, kPolicyViolation);
  EXPECT_TRUE(mr.topics[0].partitions.empty());

  // Growing past the partition limit is refused; up to it is fine.
  msg::CreatePartitionsRequest cp;
  auto& t = cp.topics.emplace_back();
  t.name = "b";
  t.count = 5;
  cp.timeout_ms = 10000;
  msg::CreatePartitionsResponse cpr;
  ASSERT_TRUE(c->Call(cp, 1, &cpr));
  ASSERT_EQ(cpr.results.size(), 1u);
  EXPECT_EQ(cpr.results[0].error_code, kInvalidPartitions);
  cp.topics[0].count = 4;
  ASSERT_TRUE(c->Call(cp, 1, &cpr));
  EXPECT_EQ(cpr.results[0].error_code, kNone);

  // A deletion frees a slot.
  EXPECT_EQ(DeleteTopic(*c, "a"), kNone);
  EXPECT_EQ(CreateTopic(*c, "c", 1).error_code, kNone);
  EXPECT_NE(broker_->Log().find("--max-topics"), std::string::npos) << "the refusal is not logged";
}

TEST_F(LimitsTest, RequestTimeoutCutsLongPolls) {
  StartBroker({"--request-timeout-ms", "300"});
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "t", 1).error_code, kNone);
  // Asks to wait 20 s for a byte that never comes: answered (empty) after about 300 ms.
  msg::FetchRequest req = FetchReq("t", 0, 0, /*max_wait_ms=*/20000, /*min_bytes=*/1);
  const auto start = Clock::now();
  msg::FetchResponse resp;
  ASSERT_TRUE(c->Call(req, 11, &resp));
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  const FetchPartition* p = OnlyPartition(resp);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->error_code, kNone);
  EXPECT_TRUE(p->records.data.empty());
  EXPECT_GE(waited.count(), 250);
  EXPECT_LT(waited.count(), 5000);
}

// ---------------------------------------------------------------- disk full

class DiskFullTest : public BrokerFixture {
 protected:
  // A 96 MiB tmpfs (RocksDB preallocates about 35 MiB of it for its WAL) on the data dir. Needs root (CAP_SYS_ADMIN), which the CI and dev machines
  // (containers run as root) have.
  void MountSmallFileSystem() {
    dir_ = e2e::MakeTempDir("sluice-diskfull");
    ASSERT_FALSE(dir_.empty());
    ASSERT_TRUE(std::filesystem::create_directory(data_dir()));
    ASSERT_EQ(mount("tmpfs", data_dir().c_str(), "tmpfs", 0, "size=96m,mode=0755"), 0)
        << "mount a 96 MiB tmpfs on " << data_dir() << ": " << std::strerror(errno)
        << " (the disk-full tests must run as root)";
    mounted_ = true;
  }
};

TEST_F(DiskFullTest, ProducesFailUntilSpaceReturnsAndNothingAcknowledgedIsLost) {
  MountSmallFileSystem();
  // 1 MiB segments, so the filler's data is many files; acks=all waits for fsync. Appends stop
  // with 8 MiB free, the reserve that lets RocksDB record the filler's deletion.
  StartBroker({"--log-segment-bytes", "1048576", "--storage-min-free-bytes", "8388608"});
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "keep", 1).error_code, kNone);
  ASSERT_EQ(CreateTopic(*c, "filler", 1).error_code, kNone);

  std::vector<std::string> acked;  // the batches of "keep" acknowledged, in offset order
  int64_t next_offset = 0;
  // 5 KiB batches: more than the page a full tmpfs may still have room in at the end of a file.
  auto produce_keep = [&](const std::string& tag) {
    storage::RecordBatchBuilder b;
    for (int i = 0; i < 5; ++i) b.Add(tag + std::to_string(i), std::string(1024, 'v'), {}, 1000);
    std::string batch = b.Build();
    ProducePartition p = Produce(*c, "keep", batch);
    if (p.error_code == kNone) {
      EXPECT_EQ(p.base_offset, next_offset);
      acked.push_back(WithBase(batch, next_offset));
      next_offset += 5;
    }
    return p.error_code;
  };
  for (int i = 0; i < 10; ++i) ASSERT_EQ(produce_keep("before-" + std::to_string(i)), kNone);

  // Fill the file system with 256 KiB batches until a produce fails, then with smaller ones until
  // those fail too (bounded by count).
  int filled = 0;
  int16_t error = kNone;
  for (size_t size : {size_t{256} << 10, size_t{16} << 10, size_t{512}}) {
    error = kNone;
    for (int i = 0; i < 1000 && error == kNone; ++i) {
      storage::RecordBatchBuilder b;
      b.Add("k", std::string(size, 'f'), {}, 1000);
      error = Produce(*c, "filler", b.Build()).error_code;
      if (error == kNone) ++filled;
    }
    ASSERT_EQ(error, kKafkaStorageError) << "after " << filled << " batches, at " << size << " B";
  }
  EXPECT_GT(filled, 20);
  EXPECT_NE(broker_->Log().find("(--storage-min-free-bytes)"), std::string::npos)
      << "the cause is not logged";

  // Full: produces to another partition fail too and are not acknowledged...
  EXPECT_EQ(produce_keep("while-full"), kKafkaStorageError);
  // ...while consumers keep reading everything acknowledged.
  std::string all;
  for (const auto& b : acked) all += b;
  EXPECT_EQ(FetchAll(*c, "keep", 0), all);

  // Space returns (the filler topic is deleted): produce works again, no restart.
  ASSERT_EQ(DeleteTopic(*c, "filler"), kNone);
  int16_t after = kKafkaStorageError;
  for (int i = 0; i < 100 && after != kNone; ++i) {
    after = produce_keep("after-" + std::to_string(i));
    if (after != kNone) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(after, kNone) << "produce did not recover once space returned";
  for (int i = 0; i < 5; ++i) ASSERT_EQ(produce_keep("more-" + std::to_string(i)), kNone);

  all.clear();
  for (const auto& b : acked) all += b;
  EXPECT_EQ(FetchAll(*c, "keep", 0), all);

  // And all of it survives a restart.
  ASSERT_EQ(broker_->Stop(), 0) << broker_->Log();
  ASSERT_TRUE(broker_->Start()) << broker_->Log();
  c = Connect();
  EXPECT_EQ(FetchAll(*c, "keep", 0), all);
}

// ---------------------------------------------------------------- I/O errors

using IoErrorTest = BrokerFixture;

TEST_F(IoErrorTest, FailedFsyncFencesOnlyThatPartition) {
  dir_ = e2e::MakeTempDir("sluice-fsync");
  ASSERT_FALSE(dir_.empty());
  const std::string control = dir_ + "/faults";
  ASSERT_EQ(setenv("SLUICE_FAULT_INJECTION", control.c_str(), 1), 0);
  StartBroker({});
  unsetenv("SLUICE_FAULT_INJECTION");  // only the broker child has it
  auto c = Connect();
  ASSERT_EQ(CreateTopic(*c, "doomed", 1).error_code, kNone);
  ASSERT_EQ(CreateTopic(*c, "healthy", 1).error_code, kNone);
  std::string first = MakeBatch(3, 1000, "first");
  ASSERT_EQ(Produce(*c, "doomed", first).error_code, kNone);

  std::ofstream(control) << "sync /doomed-0/\n";
  std::this_thread::sleep_for(milliseconds(100));  // the broker re-reads it every 50 ms
  // acks=all waits for the sync, which fails: an error, not an acknowledgement.
  EXPECT_EQ(Produce(*c, "doomed", MakeBatch(2, 2000, "lost")).error_code, kKafkaStorageError);
  EXPECT_EQ(Produce(*c, "healthy", MakeBatch(2, 2000, "fine")).error_code, kNone);

  // Fenced until a restart, even once the fault is gone: the page cache can no longer be trusted.
  std::filesystem::remove(control);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(Produce(*c, "doomed", MakeBatch(1, 3000, "after")).error_code, kKafkaStorageError);
  const std::string metrics = HttpGet(broker_->http_port, "/metrics");
  EXPECT_NE(metrics.find("sluice_partition_fenced{topic=\"doomed\",partition=\"0\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sluice_partition_fenced{topic=\"healthy\",partition=\"0\"} 0"),
            std::string::npos);
  EXPECT_EQ(metrics.find("sluice_fsync_errors_total 0"), std::string::npos);
  EXPECT_NE(broker_->Log().find("sync failed, partition fenced"), std::string::npos);
  // Reads of what was acknowledged go on.
  EXPECT_EQ(FetchAll(*c, "doomed", 0).substr(0, first.size()), WithBase(first, 0));

  // A restart recovers the partition from its files: the acknowledged batch is there and it
  // takes appends again.
  // The final flush of the fenced partition fails too: the exit code says so.
  ASSERT_EQ(broker_->Stop(), 1) << broker_->Log();
  ASSERT_TRUE(broker_->Start()) << broker_->Log();
  c = Connect();
  EXPECT_EQ(FetchAll(*c, "doomed", 0).substr(0, first.size()), WithBase(first, 0));
  EXPECT_EQ(Produce(*c, "doomed", MakeBatch(1, 4000, "again")).error_code, kNone);
}

}  // namespace
}  // namespace sluice
