// Producer against the in-process FakeBroker: batching, partitioning, acks, retries, timeouts,
// backpressure, flush and close.

#include "sluice/producer.h"

#include <gtest/gtest.h>

#include <set>

#include "client/src/partitioner.h"
#include "client/testing/fake_broker.h"
#include "client/testing/test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using client::testing::FakeBroker;
using client::testing::IsOk;
using client::testing::Ready;
using client::testing::StatusIs;
using client::testing::WaitUntil;

class ProducerTest : public ::testing::Test {
 protected:
  ProducerConfig Config() {
    ProducerConfig c;
    c.bootstrap_servers = {broker_.address()};
    c.client_id = "producer-test";
    c.request_timeout = 2s;
    c.delivery_timeout = 10s;
    c.retry_backoff = 20ms;
    c.reconnect_backoff = 10ms;
    c.reconnect_backoff_max = 50ms;
    c.linger = 0ms;
    c.max_block = 2s;
    c.partitioner_seed = 1;
    return c;
  }
  std::unique_ptr<Producer> Make(const ProducerConfig& c) {
    auto p = Producer::Create(c);
    EXPECT_THAT(p, IsOk());
    return p.ok() ? std::move(*p) : nullptr;
  }
  static Record Rec(std::string topic, std::optional<std::string> key, std::string value) {
    Record r;
    r.topic = std::move(topic);
    r.key = std::move(key);
    r.value = std::move(value);
    return r;
  }

  FakeBroker broker_;
};

TEST_F(ProducerTest, DeliversRecordsWithOffsetsKeysHeadersAndTimestamps) {
  broker_.CreateTopic("t", 1);
  auto producer = Make(Config());
  std::vector<std::future<SendResult>> futures;
  for (int i = 0; i < 10; ++i) {
    Record r = Rec("t", "k" + std::to_string(i), "v" + std::to_string(i));
    r.timestamp_ms = 1700000000000 + i;
    r.headers.push_back({"h", "x" + std::to_string(i)});
    r.headers.push_back({"null", std::nullopt});
    futures.push_back(producer->Send(std::move(r)));
  }
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Ready(futures[i]));
    SendResult res = futures[i].get();
    ASSERT_THAT(res, IsOk());
    EXPECT_EQ(res->topic, "t");
    EXPECT_EQ(res->partition, 0);
    EXPECT_EQ(res->offset, i);
    EXPECT_EQ(res->timestamp_ms, 1700000000000 + i);
  }
  auto stored = broker_.Records("t", 0);
  ASSERT_EQ(stored.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(stored[i].offset, i);
    EXPECT_EQ(stored[i].key, "k" + std::to_string(i));
    EXPECT_EQ(stored[i].value, "v" + std::to_string(i));
    EXPECT_EQ(stored[i].timestamp_ms, 1700000000000 + i);
    ASSERT_EQ(stored[i].headers.size(), 2u);
    EXPECT_EQ(stored[i].headers[0], (Header{"h", "x" + std::to_string(i)}));
    EXPECT_EQ(stored[i].headers[1], (Header{"null", std::nullopt}));
  }
  EXPECT_THAT(producer->Close(), IsOk());
}

TEST_F(ProducerTest, KeyedRecordsLandWhereKafkasPartitionerPutsThem) {
  broker_.CreateTopic("keyed", 4);
  auto producer = Make(Config());
  // toPositive(murmur2(key)) % 4 with Kafka's murmur2 values: "21" -> 1173551340 % 4 = 0,
  // "foobar" -> 1357151166 % 4 = 2, "abc" -> 479470107 % 4 = 3.
  const std::vector<std::pair<std::string, int32_t>> expected = {
      {"21", 0}, {"foobar", 2}, {"abc", 3}};
  for (const auto& [key, partition] : expected) {
    auto f = producer->Send(Rec("keyed", key, "v"));
    ASSERT_TRUE(Ready(f));
    auto res = f.get();
    ASSERT_THAT(res, IsOk());
    EXPECT_EQ(res->partition, partition) << key;
    EXPECT_EQ(client::KeyPartition(key, 4), partition);
  }
  EXPECT_EQ(broker_.Records("keyed", 1).size(), 0u);
  ASSERT_EQ(broker_.Records("keyed", 2).size(), 1u);
  EXPECT_EQ(broker_.Records("keyed", 2)[0].key, "foobar");
}

TEST_F(ProducerTest, LingerCollectsRecordsIntoOneRequest) {
  broker_.CreateTopic("t", 1);
  auto c = Config();
  c.linger = 300ms;
  auto producer = Make(c);
  std::vector<std::future<SendResult>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(producer->Send(Rec("t", std::nullopt, "v")));
  for (auto& f : futures) {
    ASSERT_TRUE(Ready(f));
    ASSERT_THAT(f.get(), IsOk());
  }
  auto log = broker_.ProduceLog();
  ASSERT_EQ(log.size(), 1u);
  ASSERT_EQ(log[0].partitions.size(), 1u);
  EXPECT_EQ(log[0].partitions[0].second, 20);
  EXPECT_EQ(log[0].acks, -1);
}

TEST_F(ProducerTest, BatchSizeBoundsEachBatch) {
  broker_.CreateTopic("t", 1);
  auto c = Config();
  c.linger = 1h;
  c.delivery_timeout = 2h;
  c.batch_size = 250;  // two records of 60 bytes per batch (see record_accumulator_test)
  auto producer = Make(c);
  std::vector<std::future<SendResult>> futures;
  for (int i = 0; i < 10; ++i) {
    futures.push_back(producer->Send(Rec("t", std::nullopt, std::string(60, 'a' + i))));
  }
  // Full batches go without waiting for linger: four are sent before the flush, which sends the
  // last one (two records, still open).
  ASSERT_TRUE(WaitUntil([&] { return broker_.ProduceLog().size() == 4; }));
  ASSERT_THAT(producer->Flush(5s), IsOk());
  for (auto& f : futures) ASSERT_TRUE(Ready(f, 1ms));
  auto log = broker_.ProduceLog();
  int records = 0;
  for (const auto& e : log) {
    for (const auto& [tp, n] : e.partitions) {
      EXPECT_EQ(n, 2);
      records += n;
    }
  }
  EXPECT_EQ(records, 10);
  EXPECT_EQ(log.size(), 5u);
  EXPECT_EQ(futures.size(), 10u);
}

TEST_F(ProducerTest, KeylessRecordsStickToOnePartitionUntilItsBatchIsFull) {
  broker_.CreateTopic("s", 3);
  auto c = Config();
  c.linger = 1h;
  c.delivery_timeout = 2h;
  c.batch_size = 250;
  auto producer = Make(c);
  std::vector<std::future<SendResult>> futures;
  for (int i = 0; i < 4; ++i) {
    futures.push_back(producer->Send(Rec("s", std::nullopt, std::string(60, 'x'))));
  }
  ASSERT_THAT(producer->Flush(5s), IsOk());
  std::vector<int32_t> partitions;
  for (auto& f : futures) {
    ASSERT_TRUE(Ready(f));
    auto res = f.get();
    ASSERT_THAT(res, IsOk());
    partitions.push_back(res->partition);
  }
  // Two records fill the first partition's batch; the third moves to another partition.
  EXPECT_EQ(partitions[0], partitions[1]);
  EXPECT_NE(partitions[1], partitions[2]);
  EXPECT_EQ(partitions[2], partitions[3]);
  EXPECT_EQ(broker_.Records("s", partitions[0]).size(), 2u);
  EXPECT_EQ(broker_.Records("s", partitions[2]).size(), 2u);
}

TEST_F(ProducerTest, AcksZeroCompletesOnWriteWithOffsetMinusOne) {
  broker_.CreateTopic("t", 1);
  auto c = Config();
  c.acks = Acks::kNone;
  auto producer = Make(c);
  auto f = producer->Send(Rec("t", "k", "v"));
  ASSERT_TRUE(Ready(f));
  auto res = f.get();
  ASSERT_THAT(res, IsOk());
  EXPECT_EQ(res->offset, -1);
  EXPECT_EQ(res->partition, 0);
  ASSERT_TRUE(WaitUntil([&] { return broker_.Records("t", 0).size() == 1; }));
  EXPECT_EQ(broker_.ProduceLog()[0].acks, 0);
}

TEST_F(ProducerTest, AcksOneIsSentAsOne) {
  broker_.CreateTopic("t", 1);
  auto c = Config();
  c.acks = Acks::kLeader;
  auto producer = Make(c);
  auto f = producer->Send(Rec("t", "k", "v"));
  ASSERT_TRUE(Ready(f));
  EXPECT_EQ(f.get()->offset, 0);
  EXPECT_EQ(broker_.ProduceLog()[0].acks, 1);
}

TEST_F(ProducerTest, RetriesRetriableErrorsThenSucceeds) {
  broker_.CreateTopic("t", 1);
  broker_.FailNextProduce(native::STORAGE_ERROR, 2);
  auto producer = Make(Config());
  auto f = producer->Send(Rec("t", "k", "v"));
  ASSERT_TRUE(Ready(f));
  auto res = f.get();
  ASSERT_THAT(res, IsOk());
  EXPECT_EQ(res->offset, 0);
  EXPECT_EQ(broker_.ProduceLog().size(), 3u);
  EXPECT_EQ(broker_.Records("t", 0).size(), 1u);
}

TEST_F(ProducerTest, NonRetriableErrorFailsTheRecordAtOnce) {
  broker_.CreateTopic("t", 1);
  broker_.FailNextProduce(native::MESSAGE_TOO_LARGE, 1);
  auto producer = Make(Config());
  std::promise<absl::Status> from_callback;
  auto f = producer->Send(Rec("t", "k", "v"),
                          [&](const SendResult& r) { from_callback.set_value(r.status()); });
  ASSERT_TRUE(Ready(f));
  auto res = f.get();
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(res.status().message(), "produce to t-0: MESSAGE_TOO_LARGE: injected failure");
  EXPECT_EQ(from_callback.get_future().get(), res.status());
  EXPECT_EQ(broker_.ProduceLog().size(), 1u);
}

TEST_F(ProducerTest, DeliveryTimeoutEndsRetries) {
  broker_.CreateTopic("t", 1);
  broker_.FailNextProduce(native::STORAGE_ERROR, 1000000);
  auto c = Config();
  c.request_timeout = 300ms;
  c.delivery_timeout = 500ms;
  auto producer = Make(c);
  const auto start = std::chrono::steady_clock::now();
  auto f = producer->Send(Rec("t", "k", "v"));
  ASSERT_TRUE(Ready(f, 5s));
  auto res = f.get();
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_NE(res.status().message().find("delivery_timeout (500 ms) expired"), std::string::npos)
      << res.status();
  EXPECT_NE(res.status().message().find("STORAGE_ERROR"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_GE(broker_.ProduceLog().size(), 3u);
}

TEST_F(ProducerTest, RetriesOverANewConnectionAfterTheOldOneDrops) {
  broker_.CreateTopic("t", 1);
  broker_.SetProduceDelay(300ms);
  auto producer = Make(Config());
  auto f = producer->Send(Rec("t", "k", "v"));
  ASSERT_TRUE(WaitUntil([&] { return broker_.ProduceLog().size() == 1; }));
  broker_.SetProduceDelay(0ms);
  broker_.DropConnections();
  ASSERT_TRUE(Ready(f));
  auto res = f.get();
  ASSERT_THAT(res, IsOk());
  // At least once: the first attempt was appended but its acknowledgement was lost.
  EXPECT_EQ(res->offset, 1);
  EXPECT_EQ(broker_.Records("t", 0).size(), 2u);
  // Bootstrap (metadata) and leader connections, both re-established after the drop: the retry
  // reconnects to the leader and the refresh it asks for reconnects the bootstrap one.
  EXPECT_EQ(broker_.connections_accepted(), 4u);
}

TEST_F(ProducerTest, FullBufferBlocksSendForMaxBlockThenFails) {
  broker_.CreateTopic("t", 1);
  broker_.SetProduceDelay(600ms);
  auto c = Config();
  c.request_timeout = 5s;
  c.batch_size = 500;
  c.buffer_memory = 1000;
  c.max_block = 200ms;
  auto producer = Make(c);
  // Each record reserves 26 + 10 + 400 = 436 bytes: two fit, the third must wait.
  auto f1 = producer->Send(Rec("t", std::nullopt, std::string(400, 'a')));
  auto f2 = producer->Send(Rec("t", std::nullopt, std::string(400, 'b')));
  const auto start = std::chrono::steady_clock::now();
  auto f3 = producer->Send(Rec("t", std::nullopt, std::string(400, 'c')));
  const auto blocked = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(Ready(f3, 1ms));
  EXPECT_THAT(f3.get(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_GE(blocked, 200ms);
  EXPECT_LT(blocked, 600ms);
  ASSERT_TRUE(Ready(f1, 5s));
  ASSERT_TRUE(Ready(f2, 5s));
  EXPECT_THAT(f1.get(), IsOk());
  EXPECT_THAT(f2.get(), IsOk());
  // Memory came back: sending works again.
  broker_.SetProduceDelay(0ms);
  auto f4 = producer->Send(Rec("t", std::nullopt, std::string(400, 'd')));
  ASSERT_TRUE(Ready(f4));
  EXPECT_EQ(f4.get()->offset, 2);
}

TEST_F(ProducerTest, UnknownTopicFailsAfterMaxBlock) {
  FakeBroker strict({.auto_create_topics = false});
  auto c = Config();
  c.bootstrap_servers = {strict.address()};
  c.max_block = 300ms;
  auto producer = Make(c);
  auto f = producer->Send(Rec("missing", "k", "v"));
  ASSERT_TRUE(Ready(f, 5s));
  auto res = f.get();
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_NE(res.status().message().find("topic 'missing' not present in metadata after 300 ms"),
            std::string::npos)
      << res.status();
  EXPECT_GE(strict.RequestCount("metadata"), 2);
}

TEST_F(ProducerTest, TopicCreatedWhileWaitingIsPickedUp) {
  FakeBroker strict({.auto_create_topics = false});
  auto c = Config();
  c.bootstrap_servers = {strict.address()};
  c.max_block = 10s;  // generous: a loaded CI machine must not turn this into a timeout test
  auto producer = Make(c);
  auto f = producer->Send(Rec("late", "k", "v"));
  ASSERT_TRUE(WaitUntil([&] { return strict.RequestCount("metadata") >= 1; }));
  strict.CreateTopic("late", 2);
  ASSERT_TRUE(Ready(f, 15s));
  EXPECT_THAT(f.get(), IsOk());
}

TEST_F(ProducerTest, InvalidRecordsFailImmediatelyOnTheCallingThread) {
  broker_.CreateTopic("t", 2);
  auto c = Config();
  c.max_request_size = 2048;
  auto producer = Make(c);
  const auto caller = std::this_thread::get_id();
  std::thread::id callback_thread;
  auto f = producer->Send(Rec("t", "k", std::string(4096, 'x')),
                          [&](const SendResult&) { callback_thread = std::this_thread::get_id(); });
  ASSERT_TRUE(Ready(f, 1ms));
  EXPECT_THAT(f.get(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(callback_thread, caller);
  EXPECT_THAT(producer->Send(Rec("", "k", "v")).get(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  Record bad = Rec("t", "k", "v");
  bad.partition = 7;
  auto g = producer->Send(std::move(bad));
  ASSERT_TRUE(Ready(g));
  auto res = g.get();
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(res.status().message(), "partition 7 of topic 't' does not exist (2 partitions)");
}

TEST_F(ProducerTest, ExplicitPartitionIsHonoured) {
  broker_.CreateTopic("t", 3);
  auto producer = Make(Config());
  Record r = Rec("t", "21", "v");  // its key would hash to partition 0 of 3
  r.partition = 2;
  auto f = producer->Send(std::move(r));
  ASSERT_TRUE(Ready(f));
  EXPECT_EQ(f.get()->partition, 2);
  EXPECT_EQ(broker_.Records("t", 2).size(), 1u);
}

TEST_F(ProducerTest, FlushSendsLingeringRecordsAndWaitsForThem) {
  broker_.CreateTopic("t", 2);
  auto c = Config();
  c.linger = 1h;
  c.delivery_timeout = 2h;
  auto producer = Make(c);
  std::vector<std::future<SendResult>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(producer->Send(Rec("t", std::to_string(i), "v")));
  ASSERT_THAT(producer->Flush(5s), IsOk());
  for (auto& f : futures) {
    ASSERT_TRUE(Ready(f, 1ms));
    EXPECT_THAT(f.get(), IsOk());
  }
  EXPECT_EQ(broker_.Records("t", 0).size() + broker_.Records("t", 1).size(), 5u);
}

TEST_F(ProducerTest, FlushTimesOutWhileTheBrokerStalls) {
  broker_.CreateTopic("t", 1);
  broker_.SetProduceDelay(1s);
  auto producer = Make(Config());
  auto f = producer->Send(Rec("t", "k", "v"));
  EXPECT_THAT(producer->Flush(100ms), StatusIs(absl::StatusCode::kDeadlineExceeded));
  ASSERT_TRUE(Ready(f, 5s));
  EXPECT_THAT(f.get(), IsOk());
}

TEST_F(ProducerTest, CloseFailsWhatItCannotDeliverAndRejectsLaterSends) {
  broker_.CreateTopic("t", 1);
  broker_.SetProduceDelay(2s);
  auto producer = Make(Config());
  auto f = producer->Send(Rec("t", "k", "v"));
  ASSERT_TRUE(WaitUntil([&] { return broker_.ProduceLog().size() == 1; }));
  EXPECT_THAT(producer->Close(100ms), StatusIs(absl::StatusCode::kDeadlineExceeded));
  ASSERT_TRUE(Ready(f, 5s));
  EXPECT_THAT(f.get(), StatusIs(absl::StatusCode::kCancelled));
  auto g = producer->Send(Rec("t", "k", "v"));
  ASSERT_TRUE(Ready(g, 1ms));
  EXPECT_THAT(g.get(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(producer->Close(), StatusIs(absl::StatusCode::kDeadlineExceeded));  // idempotent
}

TEST_F(ProducerTest, ManyThreadsSendConcurrently) {
  broker_.CreateTopic("t", 4);
  auto c = Config();
  c.linger = 2ms;
  auto producer = Make(c);
  constexpr int kThreads = 4, kPerThread = 500;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        producer->Send(Rec("t", std::to_string(t * kPerThread + i), "v"),
                       [&](const SendResult& r) { ok += r.ok(); });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_THAT(producer->Flush(10s), IsOk());
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  size_t stored = 0;
  for (int p = 0; p < 4; ++p) stored += broker_.Records("t", p).size();
  EXPECT_EQ(stored, static_cast<size_t>(kThreads * kPerThread));
}

TEST(ProducerConfigTest, RejectsInvalidSettings) {
  ProducerConfig c;
  EXPECT_THAT(Producer::Create(c), StatusIs(absl::StatusCode::kInvalidArgument));
  c.bootstrap_servers = {"nohost"};
  EXPECT_THAT(Producer::Create(c), StatusIs(absl::StatusCode::kInvalidArgument));
  c.bootstrap_servers = {"127.0.0.1:9093"};
  c.max_in_flight = 0;
  EXPECT_THAT(Producer::Create(c), StatusIs(absl::StatusCode::kInvalidArgument));
  c.max_in_flight = 1;
  c.buffer_memory = c.batch_size - 1;
  EXPECT_THAT(Producer::Create(c), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sluice
