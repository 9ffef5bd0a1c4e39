// Produce, Fetch and ListOffsets over the Kafka protocol against the real `sluiced` (fork/exec on
// ephemeral loopback ports, a fresh data dir per test). Requests are raw Kafka frames built with
// the generated message structs; batches are built with storage's RecordBatchBuilder, so fetched
// bytes can be compared byte for byte with what was produced (baseOffset patched by the broker).
// Every wait is bounded; the broker is stopped by PID.
//
//   ProduceV3V7V8ThenFetchV4V11ByteExact   base offsets, log start, KIP-74, mid-batch fetch
//   LongPollWakesOnProduceAndTimesOut      max_wait_ms / min_bytes, woken by another connection
//   FetchErrors                            OFFSET_OUT_OF_RANGE (hw filled), unknown topic, v3
//   ProduceRejections                      v2, acks, transactions, magic, CRC, zstd < v7, ...
//   IdempotentRetry...                     a duplicate batch answers its original offsets
//   IdempotentStateSurvivesACrash          ... also after SIGKILL and a restart
//   AcksZeroSendsNoResponse                data appended, no response; an error closes
//   ListOffsetsEarliestLatestByTime        v0 / v1 / v5, duplicates, unknown topic
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "broker/kafka/kafka_messages.h"
#include "broker/kafka/wire.h"
#include "gtest/gtest.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/record_batch.h"
#include "tests/integration/kafka_requests.h"
#include "tests/integration/kafka_test_conn.h"
#include "tests/integration/sluiced_process.h"

namespace sluice {
namespace {

namespace msg = broker::kafka::msg;
using broker::kafka::Reader;
using broker::kafka::Writer;
using e2e::BrokerProcess;
using kafka_test::KafkaConn;
using namespace kafka_test;  // NOLINT: the request and batch helpers
using e2e::Clock;
using std::chrono::milliseconds;
using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

// Kafka error codes, spelled out here rather than taken from the broker's errors.h.
constexpr int16_t kNone = 0;
constexpr int16_t kOffsetOutOfRange = 1;
constexpr int16_t kCorruptMessage = 2;
constexpr int16_t kUnknownTopicOrPartition = 3;
constexpr int16_t kInvalidRequiredAcks = 21;
constexpr int16_t kUnsupportedVersion = 35;
constexpr int16_t kInvalidRequest = 42;
constexpr int16_t kOutOfOrderSequenceNumber = 45;
constexpr int16_t kTransactionalIdAuthorizationFailed = 53;
constexpr int16_t kUnsupportedCompressionType = 76;
constexpr int16_t kInvalidRecord = 87;

// ---------------------------------------------------------------- the fixture

class KafkaDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = e2e::MakeTempDir("sluice-kafka-data");
    ASSERT_FALSE(dir_.empty());
    broker_ = std::make_unique<BrokerProcess>(
        SLUICED_PATH, dir_,
        std::vector<std::string>{"--kafka-addr", "127.0.0.1:0", "--log-level", "debug"});
    ASSERT_TRUE(broker_->Start()) << "sluiced did not start; log:\n" << broker_->Log();
    std::ifstream ports(dir_ + "/ports");
    for (std::string line; std::getline(ports, line);) {
      if (line.rfind("kafka=", 0) == 0) {
        kafka_port_ = static_cast<uint16_t>(std::stoi(line.substr(6)));
      }
    }
    ASSERT_NE(kafka_port_, 0) << "no kafka= line in the port file";
  }

  void TearDown() override {
    if (broker_) {
      EXPECT_EQ(broker_->Stop(), 0) << broker_->Log();
      if (HasFailure()) std::cerr << "---- sluiced log ----\n" << broker_->Log();
    }
    std::error_code ec;
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<KafkaConn> Connect() {
    auto c = std::make_unique<KafkaConn>("kafka-data-test");
    EXPECT_TRUE(c->Connect(kafka_port_));
    return c;
  }

  ProducePartition Produce(KafkaConn& c, int16_t version, const std::string& topic,
                           std::string batch, int16_t acks = -1, int32_t partition = 0) {
    msg::ProduceResponse resp;
    EXPECT_TRUE(c.Call(ProduceReq(topic, partition, batch, acks), version, &resp));
    return OnlyPartition(resp);
  }

  struct Fetched {
    FetchPartition partition;
    std::string records;
    int32_t session_id = -1;
    int16_t error_code = -1;
  };
  Fetched Fetch(KafkaConn& c, int16_t version, const msg::FetchRequest& req) {
    msg::FetchResponse resp;
    EXPECT_TRUE(c.Call(req, version, &resp));
    return Collect(resp);
  }
  static Fetched Collect(const msg::FetchResponse& resp) {
    Fetched out;
    out.session_id = resp.session_id;
    out.error_code = resp.error_code;
    if (const FetchPartition* p = OnlyPartition(resp)) {
      out.partition = *p;
      out.records = Copy(p->records);
    }
    return out;
  }

  ListOffsetsPartition ListOffsets(KafkaConn& c, int16_t version, const std::string& topic,
                                   int64_t timestamp, int32_t max_num_offsets = 1) {
    msg::ListOffsetsResponse resp;
    EXPECT_TRUE(c.Call(ListOffsetsReq(topic, timestamp, max_num_offsets), version, &resp));
    return OnlyPartition(resp);
  }

  int64_t Latest(KafkaConn& c, const std::string& topic) {
    ListOffsetsPartition p = ListOffsets(c, 1, topic, -1);
    EXPECT_EQ(p.error_code, kNone);
    return p.offset;
  }

  std::string dir_;
  std::unique_ptr<BrokerProcess> broker_;
  uint16_t kafka_port_ = 0;
};

// ---------------------------------------------------------------- tests

TEST_F(KafkaDataTest, ProduceV3V7V8ThenFetchV4V11ByteExact) {
  auto c = Connect();
  const std::string a = MakeBatch(3, 1000, "a");
  const std::string b = MakeBatch(2, 2000, "b");
  const std::string d = MakeBatch(4, 3000, "d");

  ProducePartition p3 = Produce(*c, 3, "events", a, /*acks=*/1);
  EXPECT_EQ(p3.error_code, kNone);
  EXPECT_EQ(p3.base_offset, 0);
  EXPECT_EQ(p3.log_append_time_ms, -1);
  ProducePartition p7 = Produce(*c, 7, "events", b);
  EXPECT_EQ(p7.error_code, kNone);
  EXPECT_EQ(p7.base_offset, 3);
  EXPECT_EQ(p7.log_start_offset, 0);
  ProducePartition p8 = Produce(*c, 8, "events", d);
  EXPECT_EQ(p8.error_code, kNone);
  EXPECT_EQ(p8.base_offset, 5);
  EXPECT_EQ(p8.log_start_offset, 0);
  EXPECT_FALSE(p8.error_message.has_value());
  EXPECT_TRUE(p8.record_errors.empty());

  const std::string all = WithBase(a, 0) + WithBase(b, 3) + WithBase(d, 5);

  Fetched f4 = Fetch(*c, 4, FetchReq("events", 0, 0));
  EXPECT_EQ(f4.partition.error_code, kNone);
  EXPECT_EQ(f4.partition.high_watermark, 9);
  EXPECT_EQ(f4.partition.last_stable_offset, 9);
  EXPECT_FALSE(f4.partition.aborted_transactions.has_value());
  EXPECT_EQ(f4.records, all);

  msg::FetchRequest committed = FetchReq("events", 0, 3);
  committed.isolation_level = 1;
  Fetched f11 = Fetch(*c, 11, committed);
  EXPECT_EQ(f11.error_code, kNone);
  EXPECT_EQ(f11.session_id, 0);
  EXPECT_EQ(f11.partition.error_code, kNone);
  EXPECT_EQ(f11.partition.high_watermark, 9);
  EXPECT_EQ(f11.partition.last_stable_offset, 9);
  EXPECT_EQ(f11.partition.log_start_offset, 0);
  EXPECT_EQ(f11.partition.preferred_read_replica, -1);
  ASSERT_TRUE(f11.partition.aborted_transactions.has_value());
  EXPECT_TRUE(f11.partition.aborted_transactions->empty());
  EXPECT_EQ(f11.records, WithBase(b, 3) + WithBase(d, 5));

  // An offset inside a batch returns the whole batch.
  EXPECT_EQ(Fetch(*c, 11, FetchReq("events", 0, 4)).records, WithBase(b, 3) + WithBase(d, 5));
  // KIP-74: a partition limit smaller than a batch still returns the first batch, only it.
  EXPECT_EQ(Fetch(*c, 11, FetchReq("events", 0, 0, 0, 0, /*partition_max_bytes=*/1)).records,
            WithBase(a, 0));
  // At the high watermark: nothing, no error.
  Fetched end = Fetch(*c, 11, FetchReq("events", 0, 9));
  EXPECT_EQ(end.partition.error_code, kNone);
  EXPECT_TRUE(end.records.empty());
  EXPECT_EQ(end.partition.high_watermark, 9);
}

TEST_F(KafkaDataTest, LongPollWakesOnProduceAndTimesOut) {
  auto consumer = Connect();
  auto producer = Connect();
  const std::string first = MakeBatch(1, 1000, "first");
  ASSERT_EQ(Produce(*producer, 7, "poll", first).error_code, kNone);

  // Waits up to 10 s for one byte at the end of the log; a produce 300 ms later answers it.
  const auto sent = Clock::now();
  ASSERT_TRUE(consumer->Send(FetchReq("poll", 0, 1, /*max_wait_ms=*/10000, /*min_bytes=*/1), 11));
  EXPECT_FALSE(consumer->Readable(300)) << "the fetch did not wait";
  const std::string second = MakeBatch(2, 2000, "second");
  ASSERT_EQ(Produce(*producer, 7, "poll", second).error_code, kNone);
  msg::FetchResponse resp;
  ASSERT_TRUE(consumer->Receive(&resp, 11));
  const auto waited = Clock::now() - sent;
  EXPECT_LT(waited, milliseconds(5000)) << "the produce did not wake the fetch";
  Fetched woken = Collect(resp);
  EXPECT_EQ(woken.partition.error_code, kNone);
  EXPECT_EQ(woken.records, WithBase(second, 1));

  // Nothing produced: the fetch answers empty after max_wait_ms.
  const auto start = Clock::now();
  Fetched timed_out = Fetch(*consumer, 11, FetchReq("poll", 0, 3, /*max_wait_ms=*/400, 1));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(350));
  EXPECT_LT(elapsed, milliseconds(5000));
  EXPECT_EQ(timed_out.partition.error_code, kNone);
  EXPECT_TRUE(timed_out.records.empty());
  EXPECT_EQ(timed_out.partition.high_watermark, 3);
}

TEST_F(KafkaDataTest, FetchErrors) {
  auto c = Connect();
  ASSERT_EQ(Produce(*c, 7, "t", MakeBatch(2, 1000, "x")).error_code, kNone);

  for (int64_t offset : {int64_t{100}, int64_t{-1}}) {
    Fetched out = Fetch(*c, 11, FetchReq("t", 0, offset));
    EXPECT_EQ(out.partition.error_code, kOffsetOutOfRange) << offset;
    EXPECT_EQ(out.partition.high_watermark, 2) << offset;
    EXPECT_EQ(out.partition.log_start_offset, 0) << offset;
    EXPECT_TRUE(out.records.empty());
  }

  // Unknown topic (fetch does not create it) and unknown partition of a known one.
  Fetched unknown = Fetch(*c, 11, FetchReq("nope", 0, 0, /*max_wait_ms=*/5000, 1));
  EXPECT_EQ(unknown.partition.error_code, kUnknownTopicOrPartition);
  EXPECT_EQ(unknown.partition.high_watermark, -1);
  EXPECT_EQ(ListOffsets(*c, 1, "nope", -1).error_code, kUnknownTopicOrPartition);
  EXPECT_EQ(Fetch(*c, 11, FetchReq("t", 7, 0)).partition.error_code, kUnknownTopicOrPartition);

  // v0-3 would need down-conversion to legacy message sets.
  for (int16_t v : {0, 3}) {
    Fetched old = Fetch(*c, v, FetchReq("t", 0, 0));
    EXPECT_EQ(old.partition.error_code, kUnsupportedVersion) << v;
    EXPECT_TRUE(old.records.empty()) << v;
  }
}

TEST_F(KafkaDataTest, ProduceRejections) {
  auto c = Connect();
  const std::string good = MakeBatch(2, 1000, "good");

  // Legacy versions: nothing appended, the topic not even created.
  EXPECT_EQ(Produce(*c, 2, "legacy", good).error_code, kUnsupportedVersion);
  EXPECT_EQ(ListOffsets(*c, 1, "legacy", -1).error_code, kUnknownTopicOrPartition);

  ASSERT_EQ(Produce(*c, 7, "t", good).error_code, kNone);  // offsets 0-1
  EXPECT_EQ(Produce(*c, 7, "t", good, /*acks=*/2).error_code, kInvalidRequiredAcks);

  // Transactions: a transactional id, or a transactional batch.
  {
    std::string data = good;
    msg::ProduceRequest req = ProduceReq("t", 0, data);
    req.transactional_id = "txn-1";
    msg::ProduceResponse resp;
    ASSERT_TRUE(c->Call(req, 7, &resp));
    EXPECT_EQ(OnlyPartition(resp).error_code, kTransactionalIdAuthorizationFailed);
  }
  storage::RecordBatchBuilder::Options txn;
  txn.transactional = true;
  txn.producer_id = 5;
  txn.producer_epoch = 0;
  txn.base_sequence = 0;
  EXPECT_EQ(Produce(*c, 7, "t", MakeBatch(1, 1000, "txn", txn)).error_code,
            kTransactionalIdAuthorizationFailed);

  // A legacy magic inside a v3+ request.
  std::string magic1 = good;
  magic1[storage::kCrcOffset - 1] = 1;
  EXPECT_EQ(Produce(*c, 7, "t", magic1).error_code, kInvalidRecord);

  // A bad CRC: CORRUPT_MESSAGE with storage's reason (v8), nothing appended; also when the bad
  // batch follows a good one in the same partition.
  std::string corrupt = good;
  corrupt[corrupt.size() - 1] ^= 0x5a;
  ProducePartition bad = Produce(*c, 8, "t", corrupt);
  EXPECT_EQ(bad.error_code, kCorruptMessage);
  EXPECT_EQ(bad.base_offset, -1);
  EXPECT_TRUE(bad.error_message.has_value());
  EXPECT_EQ(Produce(*c, 7, "t", good + corrupt).error_code, kCorruptMessage);
  std::string truncated = good.substr(0, good.size() - 3);
  EXPECT_EQ(Produce(*c, 7, "t", truncated).error_code, kCorruptMessage);

  // zstd needs v7; from v7 a compressed batch is stored as it came (only its CRC is checked).
  const std::string zstd = WithAttributes(MakeBatch(1, 1000, "z"), /*zstd=*/4);
  EXPECT_EQ(Produce(*c, 3, "t", zstd).error_code, kUnsupportedCompressionType);
  EXPECT_EQ(Latest(*c, "t"), 2) << "a rejected produce appended something";
  ProducePartition z = Produce(*c, 7, "t", zstd);
  EXPECT_EQ(z.error_code, kNone);
  EXPECT_EQ(z.base_offset, 2);
  EXPECT_EQ(Fetch(*c, 11, FetchReq("t", 0, 2)).records, WithBase(zstd, 2));

  // A partition the topic does not have.
  EXPECT_EQ(Produce(*c, 7, "t", good, -1, /*partition=*/99).error_code, kUnknownTopicOrPartition);
  EXPECT_EQ(Latest(*c, "t"), 3);
}

TEST_F(KafkaDataTest, IdempotentRetryAnswersTheOriginalOffsets) {
  auto c = Connect();
  storage::RecordBatchBuilder::Options idem;
  idem.producer_id = 4242;
  idem.producer_epoch = 0;
  idem.base_sequence = 0;
  const std::string first = MakeBatch(3, 1000, "idem", idem);  // sequences 0-2
  ASSERT_EQ(Produce(*c, 7, "idem", MakeBatch(1, 900, "plain")).base_offset, 0);
  ProducePartition original = Produce(*c, 7, "idem", first);
  EXPECT_EQ(original.error_code, kNone);
  EXPECT_EQ(original.base_offset, 1);
  ProducePartition retry = Produce(*c, 8, "idem", first);
  EXPECT_EQ(retry.error_code, kNone);
  EXPECT_EQ(retry.base_offset, 1);
  EXPECT_EQ(Latest(*c, "idem"), 4) << "the retry was appended again";

  idem.base_sequence = 7;  // a gap after sequence 2
  EXPECT_EQ(Produce(*c, 7, "idem", MakeBatch(1, 2000, "gap", idem)).error_code,
            kOutOfOrderSequenceNumber);
  EXPECT_EQ(Latest(*c, "idem"), 4);
}

// The producer state survives a crash: after SIGKILL and a restart, a retry of a batch
// acknowledged before the crash is still answered with its original offsets and not appended
// again, and the sequence continues where it was.
TEST_F(KafkaDataTest, IdempotentStateSurvivesACrash) {
  storage::RecordBatchBuilder::Options idem;
  idem.producer_id = 77;
  idem.producer_epoch = 3;
  idem.base_sequence = 0;
  const std::string first = MakeBatch(2, 1000, "before", idem);  // sequences 0-1
  idem.base_sequence = 2;
  const std::string second = MakeBatch(2, 1100, "before", idem);  // sequences 2-3
  {
    auto c = Connect();
    ASSERT_EQ(Produce(*c, 7, "survivor", first).base_offset, 0);   // acks=-1: durable
    ASSERT_EQ(Produce(*c, 7, "survivor", second).base_offset, 2);
  }
  broker_->Kill();
  ASSERT_TRUE(broker_->Start()) << "sluiced did not restart; log:\n" << broker_->Log();
  kafka_port_ = broker_->kafka_port;
  auto c = Connect();
  ProducePartition retry = Produce(*c, 7, "survivor", second);
  EXPECT_EQ(retry.error_code, kNone);
  EXPECT_EQ(retry.base_offset, 2);
  retry = Produce(*c, 7, "survivor", first);
  EXPECT_EQ(retry.error_code, kNone);
  EXPECT_EQ(retry.base_offset, 0);
  EXPECT_EQ(Latest(*c, "survivor"), 4) << "a retry was appended again after the restart";
  idem.base_sequence = 4;
  EXPECT_EQ(Produce(*c, 7, "survivor", MakeBatch(1, 1200, "after", idem)).base_offset, 4);
  idem.base_sequence = 9;
  EXPECT_EQ(Produce(*c, 7, "survivor", MakeBatch(1, 1300, "gap", idem)).error_code,
            kOutOfOrderSequenceNumber);
  EXPECT_EQ(Latest(*c, "survivor"), 5);
}

TEST_F(KafkaDataTest, AcksZeroSendsNoResponse) {
  auto c = Connect();
  const std::string batch = MakeBatch(3, 1000, "fire-and-forget");
  std::string data = batch;
  ASSERT_TRUE(c->Send(ProduceReq("quiet", 0, data, /*acks=*/0), 7));
  c->ExpectNoResponse();
  // The next response on the connection is the ListOffsets one (Receive checks the correlation
  // id), and the produce's data is there.
  ListOffsetsPartition latest = ListOffsets(*c, 1, "quiet", -1);
  EXPECT_EQ(latest.error_code, kNone);
  EXPECT_EQ(latest.offset, 3);
  EXPECT_EQ(Fetch(*c, 11, FetchReq("quiet", 0, 0)).records, WithBase(batch, 0));

  // An acks=0 produce that fails closes the connection: the producer's only signal.
  std::string corrupt = batch;
  corrupt[corrupt.size() - 1] ^= 0x5a;
  ASSERT_TRUE(c->Send(ProduceReq("quiet", 0, corrupt, /*acks=*/0), 7));
  c->ExpectNoResponse();
  EXPECT_TRUE(c->WaitClosed());
  auto again = Connect();
  EXPECT_EQ(Latest(*again, "quiet"), 3);
}

TEST_F(KafkaDataTest, ListOffsetsEarliestLatestByTime) {
  auto c = Connect();
  ASSERT_EQ(Produce(*c, 7, "times", MakeBatch(3, 1000, "a")).error_code, kNone);  // 0-2
  ASSERT_EQ(Produce(*c, 7, "times", MakeBatch(2, 2000, "b")).error_code, kNone);  // 3-4

  // v0: old_style_offsets, at most one.
  auto v0 = [&](int64_t ts, int32_t max_num = 1) {
    ListOffsetsPartition p = ListOffsets(*c, 0, "times", ts, max_num);
    EXPECT_EQ(p.error_code, kNone) << ts;
    return p.old_style_offsets;
  };
  EXPECT_EQ(v0(-1), std::vector<int64_t>{5});
  EXPECT_EQ(v0(-2), std::vector<int64_t>{0});
  EXPECT_EQ(v0(1500), std::vector<int64_t>{3});
  EXPECT_EQ(v0(-1, /*max_num=*/0), std::vector<int64_t>{});
  EXPECT_EQ(v0(9999), std::vector<int64_t>{});

  for (int16_t v : {1, 5}) {
    SCOPED_TRACE(v);
    ListOffsetsPartition latest = ListOffsets(*c, v, "times", -1);
    EXPECT_EQ(latest.error_code, kNone);
    EXPECT_EQ(latest.offset, 5);
    EXPECT_EQ(latest.timestamp, -1);
    ListOffsetsPartition earliest = ListOffsets(*c, v, "times", -2);
    EXPECT_EQ(earliest.offset, 0);
    ListOffsetsPartition exact = ListOffsets(*c, v, "times", 1001);
    EXPECT_EQ(exact.offset, 1);
    EXPECT_EQ(exact.timestamp, 1001);
    ListOffsetsPartition between = ListOffsets(*c, v, "times", 1500);
    EXPECT_EQ(between.offset, 3);
    EXPECT_EQ(between.timestamp, 2000);
    ListOffsetsPartition after = ListOffsets(*c, v, "times", 9999);
    EXPECT_EQ(after.error_code, kNone);
    EXPECT_EQ(after.offset, -1);
    EXPECT_EQ(after.timestamp, -1);
    EXPECT_EQ(ListOffsets(*c, v, "times", -5).error_code, kInvalidRequest);
    EXPECT_EQ(ListOffsets(*c, v, "missing", -1).error_code, kUnknownTopicOrPartition);
  }
  EXPECT_EQ(ListOffsets(*c, 5, "times", -1).leader_epoch, -1);

  // read_committed sees the same end (no transactions).
  msg::ListOffsetsRequest committed = ListOffsetsReq("times", -1);
  committed.isolation_level = 1;
  msg::ListOffsetsResponse cr;
  ASSERT_TRUE(c->Call(committed, 5, &cr));
  EXPECT_EQ(OnlyPartition(cr).offset, 5);

  // v1+: a partition named twice is refused, each time.
  msg::ListOffsetsRequest dup = ListOffsetsReq("times", -1);
  dup.topics[0].partitions.push_back(dup.topics[0].partitions[0]);
  msg::ListOffsetsResponse dr;
  ASSERT_TRUE(c->Call(dup, 1, &dr));
  ASSERT_EQ(dr.topics.size(), 1u);
  ASSERT_EQ(dr.topics[0].partitions.size(), 2u);
  EXPECT_EQ(dr.topics[0].partitions[0].error_code, kInvalidRequest);
  EXPECT_EQ(dr.topics[0].partitions[1].error_code, kInvalidRequest);
}

}  // namespace
}  // namespace sluice
