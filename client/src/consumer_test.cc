// Consumer against the in-process FakeBroker: positions, commits, seeks, pauses, rebalances
// between members, metadata-driven rejoin.

#include "sluice/consumer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "client/testing/fake_broker.h"
#include "client/testing/test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using client::testing::FakeBroker;
using client::testing::IsOk;
using client::testing::StatusIs;
using client::testing::WaitUntil;
using TPs = std::vector<TopicPartition>;

std::string Join(const TPs& tps) {
  std::string s;
  for (const auto& tp : tps) s += (s.empty() ? "" : ",") + tp.ToString();
  return s;
}

// Records rebalance callbacks as "assigned:t-0,t-1" / "revoked:...".
class RecordingListener : public RebalanceListener {
 public:
  void OnPartitionsRevoked(const TPs& p) override { Add("revoked:" + Join(p)); }
  void OnPartitionsAssigned(const TPs& p) override {
    Add("assigned:" + Join(p));
    if (on_assigned) on_assigned(p);
  }
  std::vector<std::string> log() const {
    std::lock_guard l(mu_);
    return log_;
  }
  std::function<void(const TPs&)> on_assigned;

 private:
  void Add(std::string s) {
    std::lock_guard l(mu_);
    log_.push_back(std::move(s));
  }
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

class ConsumerTest : public ::testing::Test {
 protected:
  ConsumerConfig Config(std::string client_id = "c") {
    ConsumerConfig c;
    c.bootstrap_servers = {broker_.address()};
    c.client_id = std::move(client_id);
    c.group_id = "g";
    c.auto_offset_reset = AutoOffsetReset::kEarliest;
    c.enable_auto_commit = false;
    c.session_timeout = 3s;
    c.heartbeat_interval = 50ms;
    c.rebalance_timeout = 5s;
    c.request_timeout = 5s;
    c.fetch_max_wait = 50ms;
    c.retry_backoff = 20ms;
    c.reconnect_backoff = 10ms;
    c.assignors = {"range"};
    return c;
  }
  std::unique_ptr<Consumer> Make(const ConsumerConfig& c) {
    auto r = Consumer::Create(c);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? std::move(*r) : nullptr;
  }
  // Polls until `n` records arrived or `timeout` passed.
  static std::vector<ConsumerRecord> PollFor(Consumer& c, size_t n,
                                             std::chrono::milliseconds timeout = 10s) {
    std::vector<ConsumerRecord> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      auto r = c.Poll(50ms);
      EXPECT_THAT(r, IsOk());
      if (!r.ok()) break;
      for (auto& rec : *r) out.push_back(std::move(rec));
    }
    return out;
  }
  // Polls until `done` holds (checked between polls) or `timeout` passes.
  static bool PollUntil(Consumer& c, const std::function<bool()>& done,
                        std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      auto r = c.Poll(20ms);
      if (!r.ok()) return false;
    }
    return true;
  }

  FakeBroker broker_;
};

TEST_F(ConsumerTest, ReadsFromEarliestWhenNothingIsCommitted) {
  broker_.CreateTopic("t", 2);
  broker_.Append({"t", 0}, {"a0", "a1", "a2"}, 1000);
  broker_.Append({"t", 1}, {"b0", "b1"}, 2000);
  auto c = Make(Config());
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  auto records = PollFor(*c, 5);
  ASSERT_EQ(records.size(), 5u);
  std::map<int32_t, std::vector<std::pair<int64_t, std::string>>> by_partition;
  for (const auto& r : records) {
    EXPECT_EQ(r.topic, "t");
    EXPECT_FALSE(r.key.has_value());
    by_partition[r.partition].emplace_back(r.offset, *r.value);
  }
  using V = std::vector<std::pair<int64_t, std::string>>;
  EXPECT_EQ(by_partition[0], (V{{0, "a0"}, {1, "a1"}, {2, "a2"}}));
  EXPECT_EQ(by_partition[1], (V{{0, "b0"}, {1, "b1"}}));
  for (const auto& r : records) {
    EXPECT_EQ(r.timestamp_ms, (r.partition == 0 ? 1000 : 2000) + r.offset);
  }
  EXPECT_EQ(c->Assignment(), (TPs{{"t", 0}, {"t", 1}}));
  EXPECT_EQ(*c->Position({"t", 0}), 3);
  EXPECT_EQ(*c->Position({"t", 1}), 2);
  EXPECT_THAT(c->Close(), IsOk());
}

TEST_F(ConsumerTest, LatestSkipsWhatWasThereBefore) {
  broker_.CreateTopic("t", 1);
  broker_.Append({"t", 0}, {"old0", "old1", "old2"});
  auto config = Config();
  config.auto_offset_reset = AutoOffsetReset::kLatest;
  auto c = Make(config);
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  ASSERT_TRUE(PollUntil(*c, [&] { return c->Position({"t", 0}).ok(); }));
  EXPECT_EQ(*c->Position({"t", 0}), 3);
  broker_.Append({"t", 0}, {"new3", "new4"});
  auto records = PollFor(*c, 2);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].offset, 3);
  EXPECT_EQ(records[0].value, "new3");
  EXPECT_EQ(records[1].offset, 4);
}

TEST_F(ConsumerTest, CommitThenANewMemberResumesFromTheCommittedOffset) {
  broker_.CreateTopic("t", 1);
  broker_.Append({"t", 0}, {"r0", "r1", "r2"});
  {
    auto c = Make(Config());
    ASSERT_THAT(c->Subscribe({"t"}), IsOk());
    ASSERT_EQ(PollFor(*c, 3).size(), 3u);
    ASSERT_THAT(c->Commit(), IsOk());
    EXPECT_EQ(broker_.Committed("g", {"t", 0}), 3);
    auto committed = c->Committed({{"t", 0}, {"t", 9}});
    ASSERT_THAT(committed, IsOk());
    EXPECT_EQ(committed->at(TopicPartition{"t", 0}), 3);
    EXPECT_EQ(committed->at(TopicPartition{"t", 9}), -1);
    ASSERT_THAT(c->Close(), IsOk());
  }
  EXPECT_TRUE(broker_.Members("g").empty());
  broker_.Append({"t", 0}, {"r3"});
  auto c = Make(Config());
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  auto records = PollFor(*c, 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, 3);
  EXPECT_EQ(records[0].value, "r3");
}

TEST_F(ConsumerTest, AutoCommitCommitsPositionsPeriodicallyAndOnClose) {
  broker_.CreateTopic("t", 1);
  broker_.Append({"t", 0}, {"r0", "r1"});
  auto config = Config();
  config.enable_auto_commit = true;
  config.auto_commit_interval = 100ms;
  auto c = Make(config);
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  ASSERT_EQ(PollFor(*c, 2).size(), 2u);
  EXPECT_TRUE(WaitUntil([&] { return broker_.Committed("g", {"t", 0}) == 2; }, 5s));
  broker_.Append({"t", 0}, {"r2"});
  ASSERT_EQ(PollFor(*c, 1).size(), 1u);
  ASSERT_THAT(c->Close(), IsOk());
  EXPECT_EQ(broker_.Committed("g", {"t", 0}), 3);
}

TEST_F(ConsumerTest, SeekInsideABatchSkipsTheRecordsBeforeIt) {
  broker_.CreateTopic("t", 1);
  broker_.Append({"t", 0}, {"v0", "v1", "v2", "v3", "v4"});  // one batch, offsets 0..4
  RecordingListener listener;  // outlives the consumer, which reports to it in Close()
  std::unique_ptr<Consumer> c = Make(Config());
  listener.on_assigned = [&](const TPs&) { EXPECT_THAT(c->Seek({"t", 0}, 2), IsOk()); };
  ASSERT_THAT(c->Subscribe({"t"}, &listener), IsOk());
  auto records = PollFor(*c, 3);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].offset, 2);
  EXPECT_EQ(records[0].value, "v2");
  EXPECT_EQ(records[2].offset, 4);
  // Seek back during consumption; the buffer is dropped and reading restarts there.
  ASSERT_THAT(c->Seek({"t", 0}, 1), IsOk());
  records = PollFor(*c, 4);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].offset, 1);
  EXPECT_EQ(records[3].offset, 4);
  EXPECT_THAT(c->Seek({"other", 0}, 0), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ConsumerTest, OffsetOutOfRangeResetsToEarliest) {
  broker_.CreateTopic("t", 1);
  broker_.Append({"t", 0}, {"v0", "v1"});
  RecordingListener listener;  // outlives the consumer, which reports to it in Close()
  std::unique_ptr<Consumer> c = Make(Config());
  listener.on_assigned = [&](const TPs&) { EXPECT_THAT(c->Seek({"t", 0}, 100), IsOk()); };
  ASSERT_THAT(c->Subscribe({"t"}, &listener), IsOk());
  auto records = PollFor(*c, 2);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].offset, 0);
  EXPECT_EQ(records[1].offset, 1);
}

TEST_F(ConsumerTest, MaxPollRecordsBoundsEachPoll) {
  broker_.CreateTopic("t", 1);
  std::vector<std::string> values;
  for (int i = 0; i < 10; ++i) values.push_back("v" + std::to_string(i));
  broker_.Append({"t", 0}, values);
  auto config = Config();
  config.max_poll_records = 4;
  auto c = Make(config);
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  std::vector<size_t> sizes;
  int64_t next = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (next < 10 && std::chrono::steady_clock::now() < deadline) {
    auto r = c->Poll(100ms);
    ASSERT_THAT(r, IsOk());
    if (r->empty()) continue;
    sizes.push_back(r->size());
    for (const auto& rec : *r) EXPECT_EQ(rec.offset, next++);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 4, 2}));
}

TEST_F(ConsumerTest, PausedPartitionsReturnNothingUntilResumed) {
  broker_.CreateTopic("t", 2);
  broker_.Append({"t", 0}, {"p0"});
  broker_.Append({"t", 1}, {"p1"});
  RecordingListener listener;  // outlives the consumer, which reports to it in Close()
  std::unique_ptr<Consumer> c = Make(Config());
  listener.on_assigned = [&](const TPs&) { EXPECT_THAT(c->Pause({{"t", 1}}), IsOk()); };
  ASSERT_THAT(c->Subscribe({"t"}, &listener), IsOk());
  auto records = PollFor(*c, 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].partition, 0);
  EXPECT_TRUE(PollFor(*c, 1, 300ms).empty());
  ASSERT_THAT(c->Resume({{"t", 1}}), IsOk());
  records = PollFor(*c, 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].partition, 1);
  EXPECT_EQ(records[0].value, "p1");
}

TEST_F(ConsumerTest, PollWithoutDataWaitsForItsTimeout) {
  broker_.CreateTopic("t", 1);
  auto c = Make(Config());
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  ASSERT_TRUE(PollUntil(*c, [&] { return c->Position({"t", 0}).ok(); }));
  const auto start = std::chrono::steady_clock::now();
  auto r = c->Poll(200ms);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->empty());
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 1s);
}

TEST_F(ConsumerTest, CommitAsyncReportsThroughPollAndExplicitOffsetsAreCommitted) {
  broker_.CreateTopic("t", 1);
  broker_.Append({"t", 0}, {"a", "b"});
  auto c = Make(Config());
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  ASSERT_EQ(PollFor(*c, 2).size(), 2u);
  const auto caller = std::this_thread::get_id();
  std::optional<absl::Status> result;
  OffsetMap committed;
  c->CommitAsync([&](const absl::Status& s, const OffsetMap& offsets) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    result = s;
    committed = offsets;
  });
  ASSERT_TRUE(PollUntil(*c, [&] { return result.has_value(); }));
  EXPECT_THAT(*result, IsOk());
  EXPECT_EQ(committed, (OffsetMap{{{"t", 0}, {2, ""}}}));
  EXPECT_EQ(broker_.Committed("g", {"t", 0}), 2);
  ASSERT_THAT(c->Commit({{{"t", 0}, {7, "note"}}}), IsOk());
  EXPECT_EQ(broker_.Committed("g", {"t", 0}), 7);
}

// Two members: the second join rebalances the first (eager: revoke everything, then assign).
TEST_F(ConsumerTest, SecondMemberTriggersAnEagerRebalanceAndLeavingGivesBack) {
  broker_.CreateTopic("t", 4);
  RecordingListener la, lb;
  auto a = Make(Config("a"));
  ASSERT_THAT(a->Subscribe({"t"}, &la), IsOk());
  ASSERT_TRUE(PollUntil(*a, [&] { return a->Assignment().size() == 4; }));

  auto b = Make(Config("b"));
  ASSERT_THAT(b->Subscribe({"t"}, &lb), IsOk());
  std::atomic<bool> stop{false};
  std::thread poll_b([&] {
    while (!stop) ASSERT_THAT(b->Poll(20ms), IsOk());
  });
  // Member ids are "<client id>-<n>": "a-1" < "b-2", so range gives a the first half.
  ASSERT_TRUE(PollUntil(*a, [&] { return la.log().size() == 3 && lb.log().size() == 1; }));
  EXPECT_EQ(la.log(), (std::vector<std::string>{"assigned:t-0,t-1,t-2,t-3",
                                                "revoked:t-0,t-1,t-2,t-3", "assigned:t-0,t-1"}));
  EXPECT_EQ(lb.log(), (std::vector<std::string>{"assigned:t-2,t-3"}));
  EXPECT_EQ(broker_.Generation("g"), 2);

  stop = true;
  poll_b.join();
  ASSERT_THAT(b->Close(), IsOk());
  EXPECT_EQ(lb.log().back(), "revoked:t-2,t-3");
  ASSERT_TRUE(PollUntil(*a, [&] { return la.log().size() == 5; }));
  EXPECT_EQ(la.log()[3], "revoked:t-0,t-1");
  EXPECT_EQ(la.log()[4], "assigned:t-0,t-1,t-2,t-3");
  EXPECT_EQ(broker_.Members("g"), (std::vector<std::string>{"a-1"}));
}

TEST_F(ConsumerTest, CooperativeStickyKeepsPartitionsWithTheirOwner) {
  broker_.CreateTopic("t", 3);
  auto config = Config("z");
  config.assignors = {"cooperative-sticky"};
  RecordingListener lz, la;
  auto z = Make(config);
  ASSERT_THAT(z->Subscribe({"t"}, &lz), IsOk());
  ASSERT_TRUE(PollUntil(*z, [&] { return z->Assignment().size() == 3; }));
  config.client_id = "a";
  auto a = Make(config);
  ASSERT_THAT(a->Subscribe({"t"}, &la), IsOk());
  std::atomic<bool> stop{false};
  std::thread poll_a([&] {
    while (!stop) ASSERT_THAT(a->Poll(20ms), IsOk());
  });
  // Range would give "a-2" t-0,t-1; sticky lets "z-1" keep t-0,t-1 and moves only t-2.
  ASSERT_TRUE(PollUntil(*z, [&] { return lz.log().size() == 3 && la.log().size() == 1; }));
  stop = true;
  poll_a.join();
  EXPECT_EQ(lz.log()[2], "assigned:t-0,t-1");
  EXPECT_EQ(la.log()[0], "assigned:t-2");
}

TEST_F(ConsumerTest, NewPartitionsOfASubscribedTopicTriggerARejoin) {
  broker_.CreateTopic("t", 1);
  auto config = Config();
  config.metadata_max_age = 100ms;
  RecordingListener l;
  auto c = Make(config);
  ASSERT_THAT(c->Subscribe({"t"}, &l), IsOk());
  ASSERT_TRUE(PollUntil(*c, [&] { return c->Assignment().size() == 1; }));
  broker_.AddPartitions("t", 3);
  // The assignment changes in the background; the callback runs on a later Poll().
  ASSERT_TRUE(PollUntil(
      *c, [&] { return c->Assignment().size() == 3 && l.log().size() == 3; }, 5s));
  EXPECT_EQ(l.log(),
            (std::vector<std::string>{"assigned:t-0", "revoked:t-0", "assigned:t-0,t-1,t-2"}));
  EXPECT_EQ(broker_.Generation("g"), 2);
}

TEST_F(ConsumerTest, RecoversWhenTheBrokerDropsItsConnections) {
  broker_.CreateTopic("t", 1);
  broker_.Append({"t", 0}, {"a"});
  auto c = Make(Config());
  ASSERT_THAT(c->Subscribe({"t"}), IsOk());
  ASSERT_EQ(PollFor(*c, 1).size(), 1u);
  broker_.DropConnections();
  broker_.Append({"t", 0}, {"b"});
  auto records = PollFor(*c, 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].value, "b");
  EXPECT_THAT(c->Commit(), IsOk());
  EXPECT_EQ(broker_.Committed("g", {"t", 0}), 2);
}

TEST_F(ConsumerTest, IncompatibleAssignorIsReportedByPoll) {
  broker_.CreateTopic("t", 1);
  auto a = Make(Config("a"));  // range
  ASSERT_THAT(a->Subscribe({"t"}), IsOk());
  ASSERT_TRUE(PollUntil(*a, [&] { return a->Assignment().size() == 1; }));
  auto config = Config("b");
  config.assignors = {"roundrobin"};
  auto b = Make(config);
  ASSERT_THAT(b->Subscribe({"t"}), IsOk());
  absl::Status error;
  ASSERT_TRUE(WaitUntil([&] {
    auto r = b->Poll(20ms);
    error = r.status();
    return !r.ok();
  }));
  EXPECT_THAT(error, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(error.message(),
            "join group 'g': INCONSISTENT_GROUP_PROTOCOL: no assignor in common with the group's "
            "members");
  EXPECT_EQ(broker_.Members("g"), (std::vector<std::string>{"a-1"}));
}

TEST_F(ConsumerTest, MisuseIsReported) {
  auto c = Make(Config());
  EXPECT_THAT(c->Poll(10ms), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(c->Subscribe({}), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(c->Close(), IsOk());
  EXPECT_THAT(c->Subscribe({"t"}), StatusIs(absl::StatusCode::kFailedPrecondition));
  ConsumerConfig bad = Config();
  bad.group_id.clear();
  EXPECT_THAT(Consumer::Create(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = Config();
  bad.assignors = {"sticky"};
  EXPECT_THAT(Consumer::Create(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sluice
