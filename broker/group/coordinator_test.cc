#include "broker/group/coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "asio/executor_work_guard.hpp"
#include "asio/io_context.hpp"
#include "broker/group/coordinator_test_util.h"

namespace sluice::broker {

// Readable gtest output for error codes (found by ADL).
void PrintTo(GroupError e, std::ostream* os) { *os << GroupErrorName(e); }

namespace {

using namespace std::chrono_literals;
using Outcome = std::pair<std::string, GroupError>;
using ::testing::ElementsAre;
using ::testing::FieldsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

using testing::FakeOffsetStore;
using testing::g_repeated_callbacks;
using testing::kWait;
using testing::Reply;

JoinGroupRequest JoinReq(const std::string& group, const std::string& client,
                         std::vector<std::string> protocols = {"range"},
                         std::string member_id = "") {
  JoinGroupRequest r;
  r.group_id = group;
  r.member_id = std::move(member_id);
  r.client_id = client;
  r.client_host = "/127.0.0.1";
  r.protocol_type = "consumer";
  r.session_timeout_ms = 10000;
  r.rebalance_timeout_ms = 5000;
  for (auto& p : protocols) r.protocols.push_back({p, client + ":" + p});
  return r;
}

// The same member joining again with its id.
JoinGroupRequest Rejoin(JoinGroupRequest r, const std::string& member_id) {
  r.member_id = member_id;
  return r;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  static GroupCoordinator::Options DefaultOptions() {
    GroupCoordinator::Options o;
    o.min_session_timeout_ms = 10;
    o.max_session_timeout_ms = 60000;
    // Long enough that joins sent back to back share the first generation.
    o.initial_rebalance_delay_ms = 50;
    return o;
  }

  void SetUp() override {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    coordinator_.reset();  // shuts down; needs the io threads
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    EXPECT_EQ(g_repeated_callbacks.exchange(0), 0) << "a done callback ran more than once";
  }

  void Start(GroupCoordinator::Options options = DefaultOptions()) {
    coordinator_ = std::make_unique<GroupCoordinator>(
        io_.get_executor(), store_,
        [this](const std::string& topic, int32_t p) -> std::optional<int64_t> {
          std::lock_guard l(hw_mu_);
          auto it = high_watermarks_.find({topic, p});
          if (it == high_watermarks_.end()) return std::nullopt;
          return it->second;
        },
        options);
  }
  GroupCoordinator& c() { return *coordinator_; }

  Reply<JoinGroupResult> JoinAsync(JoinGroupRequest req) {
    Reply<JoinGroupResult> r;
    c().JoinGroup(std::move(req), r.Callback());
    return r;
  }
  JoinGroupResult Join(JoinGroupRequest req) { return JoinAsync(std::move(req)).Get(); }

  Reply<SyncGroupResult> SyncAsync(const std::string& group, const JoinGroupResult& joined,
                                   std::vector<std::pair<std::string, std::string>> a = {}) {
    Reply<SyncGroupResult> r;
    c().SyncGroup({group, joined.generation_id, joined.member_id, std::move(a)}, r.Callback());
    return r;
  }
  GroupError Heartbeat(const std::string& group, int32_t generation, const std::string& member) {
    Reply<GroupError> r;
    c().Heartbeat({group, generation, member}, r.Callback());
    return r.Get();
  }
  GroupError Leave(const std::string& group, const std::string& member) {
    Reply<GroupError> r;
    c().LeaveGroup({group, member}, r.Callback());
    return r.Get();
  }
  Reply<OffsetCommitResult> CommitAsync(const std::string& group, int32_t generation,
                                        const std::string& member,
                                        std::vector<TopicPartitionOffset> offsets) {
    Reply<OffsetCommitResult> r;
    c().OffsetCommit({group, generation, member, std::move(offsets)}, r.Callback());
    return r;
  }
  GroupError Commit(const std::string& group, int32_t generation, const std::string& member,
                    std::vector<TopicPartitionOffset> offsets) {
    return CommitAsync(group, generation, member, std::move(offsets)).Get().error;
  }
  OffsetFetchResult Fetch(const std::string& group,
                          std::vector<std::pair<std::string, int32_t>> partitions = {}) {
    Reply<OffsetFetchResult> r;
    c().OffsetFetch({group, std::move(partitions)}, r.Callback());
    return r.Get();
  }
  GroupDescription Describe(const std::string& group) {
    Reply<std::vector<GroupDescription>> r;
    c().DescribeGroups({group}, r.Callback());
    auto d = r.Get();
    if (d.size() != 1) throw std::runtime_error("DescribeGroups returned a wrong count");
    return d[0];
  }
  std::vector<GroupListing> List() {
    Reply<std::vector<GroupListing>> r;
    c().ListGroups(r.Callback());
    return r.Get();
  }
  std::vector<std::pair<std::string, GroupError>> Delete(std::vector<std::string> groups) {
    Reply<std::vector<std::pair<std::string, GroupError>>> r;
    c().DeleteGroups(std::move(groups), r.Callback());
    return r.Get();
  }

  // Joins every request into one generation and syncs it; the leader assigns "to:<member id>".
  // Returns the join results in request order.
  std::vector<JoinGroupResult> FormGroup(const std::string& group,
                                         std::vector<JoinGroupRequest> reqs) {
    std::vector<Reply<JoinGroupResult>> pending;
    for (auto& r : reqs) pending.push_back(JoinAsync(r));
    std::vector<JoinGroupResult> joined;
    for (auto& p : pending) joined.push_back(p.Get());
    std::vector<Reply<SyncGroupResult>> syncs;
    for (const auto& j : joined) {
      if (j.error != GroupError::kNone) throw std::runtime_error("FormGroup: join failed");
      if (j.generation_id != joined[0].generation_id) {
        throw std::runtime_error("FormGroup: joins landed in different generations");
      }
      std::vector<std::pair<std::string, std::string>> a;
      if (j.member_id == j.leader_id) {
        for (const auto& m : j.members) a.emplace_back(m.member_id, "to:" + m.member_id);
      }
      syncs.push_back(SyncAsync(group, j, std::move(a)));
    }
    for (auto& s : syncs) {
      if (s.Get().error != GroupError::kNone) throw std::runtime_error("FormGroup: sync failed");
    }
    return joined;
  }

  // Heartbeats until the coordinator answers `want`, or kWait passes.
  bool HeartbeatUntil(const std::string& group, const JoinGroupResult& j, GroupError want) {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Heartbeat(group, j.generation_id, j.member_id) == want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  void SetHighWatermark(const std::string& topic, int32_t p, int64_t hw) {
    std::lock_guard l(hw_mu_);
    high_watermarks_[{topic, p}] = hw;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::vector<std::thread> threads_;
  FakeOffsetStore store_;
  std::mutex hw_mu_;
  std::map<std::pair<std::string, int32_t>, int64_t> high_watermarks_;
  std::unique_ptr<GroupCoordinator> coordinator_;
};

// ---- membership -----------------------------------------------------------------------------

TEST_F(CoordinatorTest, SingleMemberJoinsSyncsAndHeartbeats) {
  Start();
  JoinGroupResult j = Join(JoinReq("g", "client-a"));
  ASSERT_EQ(j.error, GroupError::kNone);
  EXPECT_THAT(j.member_id, StartsWith("client-a-"));
  EXPECT_GT(j.member_id.size(), std::string("client-a-").size());
  EXPECT_EQ(j.generation_id, 1);
  EXPECT_EQ(j.leader_id, j.member_id);
  EXPECT_EQ(j.protocol_name, "range");
  ASSERT_THAT(j.members, SizeIs(1));
  EXPECT_EQ(j.members[0].member_id, j.member_id);
  EXPECT_EQ(j.members[0].metadata, "client-a:range");
  EXPECT_EQ(Describe("g").state, "CompletingRebalance");

  SyncGroupResult s = SyncAsync("g", j, {{j.member_id, "p0,p1"}}).Get();
  EXPECT_EQ(s.error, GroupError::kNone);
  EXPECT_EQ(s.assignment, "p0,p1");
  EXPECT_EQ(Heartbeat("g", 1, j.member_id), GroupError::kNone);
  // A repeated SyncGroup in Stable returns the current assignment.
  EXPECT_EQ(SyncAsync("g", j).Get().assignment, "p0,p1");

  GroupDescription d = Describe("g");
  EXPECT_EQ(d.error, GroupError::kNone);
  EXPECT_EQ(d.state, "Stable");
  EXPECT_EQ(d.protocol_type, "consumer");
  EXPECT_EQ(d.protocol, "range");
  EXPECT_EQ(d.generation_id, 1);
  ASSERT_THAT(d.members, SizeIs(1));
  EXPECT_EQ(d.members[0].client_id, "client-a");
  EXPECT_EQ(d.members[0].client_host, "/127.0.0.1");
  EXPECT_EQ(d.members[0].metadata, "client-a:range");
  EXPECT_EQ(d.members[0].assignment, "p0,p1");
}

TEST_F(CoordinatorTest, ConcurrentJoinsFormOneGenerationAndFollowersWaitForLeaderSync) {
  Start();
  std::vector<Reply<JoinGroupResult>> replies(3);
  {
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back([&, i] {
        c().JoinGroup(JoinReq("g", "c" + std::to_string(i)), replies[i].Callback());
      });
    }
    for (auto& t : clients) t.join();
  }
  std::vector<JoinGroupResult> joined;
  for (auto& r : replies) joined.push_back(r.Get());
  const std::string leader = joined[0].leader_id;
  int leaders = 0;
  for (const auto& j : joined) {
    ASSERT_EQ(j.error, GroupError::kNone);
    EXPECT_EQ(j.generation_id, 1);
    EXPECT_EQ(j.leader_id, leader);
    if (j.member_id == leader) {
      ++leaders;
      ASSERT_THAT(j.members, SizeIs(3));
      std::set<std::string> metadata;
      for (const auto& m : j.members) metadata.insert(m.metadata);
      EXPECT_THAT(metadata, ElementsAre("c0:range", "c1:range", "c2:range"));
    } else {
      EXPECT_THAT(j.members, IsEmpty());
    }
  }
  ASSERT_EQ(leaders, 1);

  std::vector<Reply<SyncGroupResult>> follower_syncs;
  const JoinGroupResult* leader_join = nullptr;
  for (const auto& j : joined) {
    if (j.member_id == leader) {
      leader_join = &j;
    } else {
      follower_syncs.push_back(SyncAsync("g", j));
    }
  }
  std::this_thread::sleep_for(50ms);
  for (auto& s : follower_syncs) EXPECT_FALSE(s.Ready()) << "follower sync not held for leader";

  std::vector<std::pair<std::string, std::string>> assignments;
  for (const auto& j : joined) assignments.emplace_back(j.member_id, "for:" + j.member_id);
  EXPECT_EQ(SyncAsync("g", *leader_join, assignments).Get().assignment,
            "for:" + leader_join->member_id);
  size_t k = 0;
  for (const auto& j : joined) {
    if (j.member_id == leader) continue;
    SyncGroupResult s = follower_syncs[k++].Get();
    EXPECT_EQ(s.error, GroupError::kNone);
    EXPECT_EQ(s.assignment, "for:" + j.member_id);
  }
  EXPECT_EQ(Describe("g").state, "Stable");
}

TEST_F(CoordinatorTest, NewMemberMakesStableMembersRejoin) {
  Start();
  auto a_req = JoinReq("g", "a");
  JoinGroupResult a = FormGroup("g", {a_req})[0];

  Reply<JoinGroupResult> b_reply = JoinAsync(JoinReq("g", "b"));
  // Calls run in the order posted, so b's join is in before this heartbeat.
  EXPECT_EQ(Heartbeat("g", a.generation_id, a.member_id), GroupError::kRebalanceInProgress);
  EXPECT_EQ(SyncAsync("g", a).Get().error, GroupError::kRebalanceInProgress);
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(b_reply.Ready()) << "the join completed without waiting for the old member";

  JoinGroupResult a2 = Join(Rejoin(a_req, a.member_id));
  JoinGroupResult b = b_reply.Get();
  ASSERT_EQ(a2.error, GroupError::kNone);
  ASSERT_EQ(b.error, GroupError::kNone);
  EXPECT_EQ(a2.generation_id, a.generation_id + 1);
  EXPECT_EQ(b.generation_id, a2.generation_id);
  EXPECT_EQ(a2.leader_id, a.member_id);  // the leader keeps its role
  EXPECT_EQ(b.leader_id, a.member_id);
  EXPECT_THAT(a2.members, SizeIs(2));
  EXPECT_EQ(Heartbeat("g", a.generation_id, a.member_id), GroupError::kIllegalGeneration);
  EXPECT_EQ(Heartbeat("g", a2.generation_id, a.member_id), GroupError::kNone);
}

TEST_F(CoordinatorTest, StableFollowerRejoiningUnchangedGetsCurrentGeneration) {
  Start();
  auto a_req = JoinReq("g", "a");
  auto b_req = JoinReq("g", "b");
  auto joined = FormGroup("g", {a_req, b_req});
  const JoinGroupResult& follower = joined[0].member_id == joined[0].leader_id ? joined[1] : joined[0];
  const JoinGroupRequest& follower_req = &follower == &joined[0] ? a_req : b_req;

  JoinGroupResult again = Join(Rejoin(follower_req, follower.member_id));
  EXPECT_EQ(again.error, GroupError::kNone);
  EXPECT_EQ(again.generation_id, follower.generation_id);
  EXPECT_EQ(Describe("g").state, "Stable");

  // Changed protocols do start a rebalance.
  auto changed = Rejoin(follower_req, follower.member_id);
  changed.protocols.push_back({"roundrobin", "x"});
  Reply<JoinGroupResult> held = JoinAsync(changed);
  EXPECT_EQ(Describe("g").state, "PreparingRebalance");
  EXPECT_FALSE(held.Ready());
}

TEST_F(CoordinatorTest, SessionTimeoutRemovesSilentMember) {
  Start();
  auto a_req = JoinReq("g", "a");
  auto b_req = JoinReq("g", "b");
  b_req.session_timeout_ms = 100;
  auto joined = FormGroup("g", {a_req, b_req});
  const JoinGroupResult& a = joined[0];
  const JoinGroupResult& b = joined[1];

  // b never heartbeats: once its session expires the group rebalances without it.
  ASSERT_TRUE(HeartbeatUntil("g", a, GroupError::kRebalanceInProgress));
  JoinGroupResult a2 = Join(Rejoin(a_req, a.member_id));
  ASSERT_EQ(a2.error, GroupError::kNone);
  EXPECT_EQ(a2.generation_id, a.generation_id + 1);
  EXPECT_EQ(a2.leader_id, a.member_id);
  ASSERT_THAT(a2.members, SizeIs(1));
  EXPECT_EQ(Heartbeat("g", b.generation_id, b.member_id), GroupError::kUnknownMemberId);
}

TEST_F(CoordinatorTest, HeartbeatsKeepSessionAlive) {
  Start();
  auto req = JoinReq("g", "a");
  req.session_timeout_ms = 100;
  JoinGroupResult a = FormGroup("g", {req})[0];
  for (auto end = std::chrono::steady_clock::now() + 400ms; std::chrono::steady_clock::now() < end;) {
    ASSERT_EQ(Heartbeat("g", a.generation_id, a.member_id), GroupError::kNone);
    std::this_thread::sleep_for(20ms);
  }
  GroupDescription d = Describe("g");
  EXPECT_EQ(d.state, "Stable");
  EXPECT_EQ(d.generation_id, a.generation_id);
  EXPECT_THAT(d.members, SizeIs(1));
}

TEST_F(CoordinatorTest, LeaveGroupTriggersRebalanceAndLastLeaveEmptiesGroup) {
  Start();
  auto a_req = JoinReq("g", "a");
  auto joined = FormGroup("g", {a_req, JoinReq("g", "b")});
  const JoinGroupResult& a = joined[0];
  const JoinGroupResult& b = joined[1];

  EXPECT_EQ(Leave("g", b.member_id), GroupError::kNone);
  EXPECT_EQ(Leave("g", b.member_id), GroupError::kUnknownMemberId);
  EXPECT_EQ(Heartbeat("g", a.generation_id, a.member_id), GroupError::kRebalanceInProgress);
  JoinGroupResult a2 = Join(Rejoin(a_req, a.member_id));
  ASSERT_EQ(a2.error, GroupError::kNone);
  EXPECT_EQ(a2.generation_id, a.generation_id + 1);
  EXPECT_EQ(a2.leader_id, a.member_id);
  EXPECT_THAT(a2.members, SizeIs(1));

  EXPECT_EQ(Leave("g", a.member_id), GroupError::kNone);
  GroupDescription d = Describe("g");
  EXPECT_EQ(d.state, "Empty");
  EXPECT_THAT(d.members, IsEmpty());
  EXPECT_EQ(d.generation_id, a2.generation_id + 1);  // Kafka bumps the generation on emptying
  EXPECT_EQ(Leave("nope", a.member_id), GroupError::kUnknownMemberId);
}

TEST_F(CoordinatorTest, LastOldMemberLeavingCompletesTheHeldJoin) {
  Start();
  auto a_req = JoinReq("g", "a");
  JoinGroupResult a = FormGroup("g", {a_req})[0];
  Reply<JoinGroupResult> b = JoinAsync(JoinReq("g", "b"));
  // a's own rejoin would complete the generation; instead it leaves.
  EXPECT_EQ(Leave("g", a.member_id), GroupError::kNone);
  JoinGroupResult got = b.Get();
  ASSERT_EQ(got.error, GroupError::kNone);
  EXPECT_EQ(got.leader_id, got.member_id);
  EXPECT_THAT(got.members, SizeIs(1));
}

TEST_F(CoordinatorTest, RebalanceTimeoutRemovesMembersThatDoNotRejoin) {
  Start();
  auto a_req = JoinReq("g", "a");
  auto b_req = JoinReq("g", "b");
  a_req.rebalance_timeout_ms = b_req.rebalance_timeout_ms = 200;
  auto joined = FormGroup("g", {a_req, b_req});
  const JoinGroupResult& a = joined[0];
  const JoinGroupResult& b = joined[1];

  auto c_req = JoinReq("g", "c");
  c_req.rebalance_timeout_ms = 200;
  Reply<JoinGroupResult> c = JoinAsync(c_req);
  Reply<JoinGroupResult> a2 = JoinAsync(Rejoin(a_req, a.member_id));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(c.Ready()) << "completed before b rejoined or timed out";
  // b stays silent (its session of 10 s does not expire): the 200 ms rebalance timeout drops it.
  JoinGroupResult a2r = a2.Get();
  JoinGroupResult cr = c.Get();
  ASSERT_EQ(a2r.error, GroupError::kNone);
  ASSERT_EQ(cr.error, GroupError::kNone);
  EXPECT_EQ(a2r.generation_id, a.generation_id + 1);
  EXPECT_EQ(cr.generation_id, a2r.generation_id);
  std::vector<JoinGroupResult> both{a2r, cr};
  for (const auto& j : both) {
    if (j.member_id == j.leader_id) {
      std::set<std::string> ids;
      for (const auto& m : j.members) ids.insert(m.member_id);
      EXPECT_EQ(ids, (std::set<std::string>{a.member_id, cr.member_id}));
    }
  }
  EXPECT_EQ(Heartbeat("g", b.generation_id, b.member_id), GroupError::kUnknownMemberId);
}

TEST_F(CoordinatorTest, InitialDelayIsExtendedWhileMembersKeepJoining) {
  GroupCoordinator::Options o = DefaultOptions();
  o.initial_rebalance_delay_ms = 100;
  Start(o);
  auto start = std::chrono::steady_clock::now();
  Reply<JoinGroupResult> a = JoinAsync(JoinReq("g", "a"));
  std::this_thread::sleep_for(60ms);
  Reply<JoinGroupResult> b = JoinAsync(JoinReq("g", "b"));  // within the first delay
  JoinGroupResult ar = a.Get();
  JoinGroupResult br = b.Get();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);  // extended once
  EXPECT_EQ(ar.generation_id, 1);
  EXPECT_EQ(br.generation_id, 1);
  EXPECT_EQ(ar.leader_id, ar.member_id);
  EXPECT_THAT(ar.members, SizeIs(2));
}

// ---- validation -----------------------------------------------------------------------------

TEST_F(CoordinatorTest, JoinValidatesGroupIdSessionTimeoutAndMemberId) {
  Start();
  EXPECT_EQ(Join(JoinReq("", "a")).error, GroupError::kInvalidGroupId);
  EXPECT_EQ(Join(JoinReq(std::string(256, 'x'), "a")).error, GroupError::kInvalidGroupId);
  EXPECT_EQ(Join(JoinReq(std::string("a\0b", 3), "a")).error, GroupError::kInvalidGroupId);
  EXPECT_EQ(Join(JoinReq(std::string(255, 'x'), "a")).error, GroupError::kNone);

  auto low = JoinReq("g", "a");
  low.session_timeout_ms = 5;
  EXPECT_EQ(Join(low).error, GroupError::kInvalidSessionTimeout);
  auto high = JoinReq("g", "a");
  high.session_timeout_ms = 60001;
  EXPECT_EQ(Join(high).error, GroupError::kInvalidSessionTimeout);

  EXPECT_EQ(Join(JoinReq("g", "a", {"range"}, "ghost")).error, GroupError::kUnknownMemberId);
  ASSERT_EQ(Join(JoinReq("g", "a")).error, GroupError::kNone);
  EXPECT_EQ(Join(JoinReq("g", "a", {"range"}, "ghost")).error, GroupError::kUnknownMemberId);
}

TEST_F(CoordinatorTest, FirstJoinRequiringKnownMemberIdGetsTheIdToJoinWith) {
  Start();
  auto req = JoinReq("g", "a");
  req.require_known_member_id = true;
  JoinGroupResult first = Join(req);
  ASSERT_EQ(first.error, GroupError::kMemberIdRequired);
  EXPECT_THAT(first.member_id, StartsWith("a-"));
  EXPECT_THAT(Describe("g").members, IsEmpty());  // not a member until it joins with the id

  JoinGroupResult j = Join(Rejoin(req, first.member_id));
  ASSERT_EQ(j.error, GroupError::kNone);
  EXPECT_EQ(j.member_id, first.member_id);
  EXPECT_EQ(j.leader_id, first.member_id);
  EXPECT_EQ(j.generation_id, 1);
  ASSERT_EQ(SyncAsync("g", j).Get().error, GroupError::kNone);
  // Known members rejoin as before, whatever the flag.
  EXPECT_EQ(Join(Rejoin(req, j.member_id)).error, GroupError::kNone);
  // Without the flag, a first join still gets its id at once.
  EXPECT_EQ(Join(JoinReq("g2", "b")).error, GroupError::kNone);
}

TEST_F(CoordinatorTest, UnusedPendingMemberIdExpiresAfterTheSessionTimeout) {
  Start();
  auto req = JoinReq("g", "a");
  req.require_known_member_id = true;
  req.session_timeout_ms = 50;
  JoinGroupResult first = Join(req);
  ASSERT_EQ(first.error, GroupError::kMemberIdRequired);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Join(Rejoin(req, first.member_id)).error, GroupError::kUnknownMemberId);
  // A new id, used within its session timeout, joins.
  req.session_timeout_ms = 10000;
  JoinGroupResult second = Join(req);
  ASSERT_EQ(second.error, GroupError::kMemberIdRequired);
  EXPECT_NE(second.member_id, first.member_id);
  EXPECT_EQ(Join(Rejoin(req, second.member_id)).error, GroupError::kNone);
}

TEST_F(CoordinatorTest, InconsistentProtocolTypeOrProtocolsAreRejected) {
  Start();
  FormGroup("g", {JoinReq("g", "a", {"range", "sticky"})});
  auto other_type = JoinReq("g", "b");
  other_type.protocol_type = "connect";
  EXPECT_EQ(Join(other_type).error, GroupError::kInconsistentGroupProtocol);
  EXPECT_EQ(Join(JoinReq("g", "b", {"roundrobin"})).error, GroupError::kInconsistentGroupProtocol);
  EXPECT_EQ(Join(JoinReq("fresh", "b", {})).error, GroupError::kInconsistentGroupProtocol);
  EXPECT_EQ(Describe("g").state, "Stable");  // the rejected joins did not disturb the group
  EXPECT_EQ(Describe("fresh").state, "Dead");
}

TEST_F(CoordinatorTest, ProtocolIsElectedByMemberVotes) {
  Start();
  // Candidates (supported by all): range, roundrobin. Votes: a range, b and c roundrobin.
  auto joined = FormGroup("g", {JoinReq("g", "a", {"range", "roundrobin"}),
                                JoinReq("g", "b", {"roundrobin", "range", "sticky"}),
                                JoinReq("g", "c", {"sticky", "roundrobin", "range"})});
  for (const auto& j : joined) EXPECT_EQ(j.protocol_name, "roundrobin");
  for (const auto& j : joined) {
    if (j.member_id != j.leader_id) continue;
    ASSERT_THAT(j.members, SizeIs(3));
    for (const auto& m : j.members) EXPECT_THAT(m.metadata, ::testing::EndsWith(":roundrobin"));
  }
}

TEST_F(CoordinatorTest, SyncGroupRejectsUnknownMemberStaleGenerationAndRebalance) {
  Start();
  auto a_req = JoinReq("g", "a");
  JoinGroupResult a = FormGroup("g", {a_req})[0];
  JoinGroupResult ghost = a;
  ghost.member_id = "ghost";
  EXPECT_EQ(SyncAsync("g", ghost).Get().error, GroupError::kUnknownMemberId);
  EXPECT_EQ(SyncAsync("nope", a).Get().error, GroupError::kUnknownMemberId);
  JoinGroupResult stale = a;
  stale.generation_id = a.generation_id + 7;
  EXPECT_EQ(SyncAsync("g", stale).Get().error, GroupError::kIllegalGeneration);
  EXPECT_EQ(Heartbeat("g", stale.generation_id, a.member_id), GroupError::kIllegalGeneration);
  EXPECT_EQ(Heartbeat("g", a.generation_id, "ghost"), GroupError::kUnknownMemberId);

  Reply<JoinGroupResult> b = JoinAsync(JoinReq("g", "b"));
  EXPECT_EQ(SyncAsync("g", a).Get().error, GroupError::kRebalanceInProgress);
}

// ---- offsets --------------------------------------------------------------------------------

TEST_F(CoordinatorTest, CommitRequiresKnownMemberAndCurrentGeneration) {
  Start();
  JoinGroupResult a = FormGroup("g", {JoinReq("g", "a")})[0];
  EXPECT_EQ(Commit("g", a.generation_id - 1, a.member_id, {{"t", 0, 5, ""}}),
            GroupError::kIllegalGeneration);
  EXPECT_EQ(Commit("g", a.generation_id + 1, a.member_id, {{"t", 0, 5, ""}}),
            GroupError::kIllegalGeneration);
  EXPECT_EQ(Commit("g", a.generation_id, "ghost", {{"t", 0, 5, ""}}), GroupError::kUnknownMemberId);
  EXPECT_EQ(Commit("nope", 3, "ghost", {{"t", 0, 5, ""}}), GroupError::kIllegalGeneration);
  EXPECT_EQ(Fetch("g", {{"t", 0}}).offsets[0].offset, -1);

  EXPECT_EQ(Commit("g", a.generation_id, a.member_id, {{"t", 0, 42, "meta"}, {"t", 1, 7, ""}}),
            GroupError::kNone);
  OffsetFetchResult f = Fetch("g", {{"t", 0}, {"t", 1}, {"t", 2}, {"u", 0}});
  EXPECT_EQ(f.error, GroupError::kNone);
  EXPECT_THAT(f.offsets, ElementsAre(FieldsAre("t", 0, 42, "meta"), FieldsAre("t", 1, 7, ""),
                                     FieldsAre("t", 2, -1, ""), FieldsAre("u", 0, -1, "")));
  EXPECT_THAT(Fetch("g").offsets, ElementsAre(FieldsAre("t", 0, 42, "meta"), FieldsAre("t", 1, 7, "")));
  EXPECT_EQ(store_.Stored("g", "t", 0), 42);
}

TEST_F(CoordinatorTest, CommitWhileAwaitingSyncIsRejectedButAllowedWhilePreparing) {
  Start();
  auto a_req = JoinReq("g", "a");
  JoinGroupResult a = Join(a_req);  // CompletingRebalance until a syncs
  EXPECT_EQ(Commit("g", a.generation_id, a.member_id, {{"t", 0, 1, ""}}),
            GroupError::kRebalanceInProgress);
  ASSERT_EQ(SyncAsync("g", a, {{a.member_id, "x"}}).Get().error, GroupError::kNone);
  Reply<JoinGroupResult> b = JoinAsync(JoinReq("g", "b"));  // PreparingRebalance
  EXPECT_EQ(Describe("g").state, "PreparingRebalance");
  // Kafka lets members of the ending generation commit what they processed.
  EXPECT_EQ(Commit("g", a.generation_id, a.member_id, {{"t", 0, 2, ""}}), GroupError::kNone);
}

TEST_F(CoordinatorTest, CommittedOffsetsSurviveANewCoordinator) {
  Start();
  JoinGroupResult a = FormGroup("g", {JoinReq("g", "a")})[0];
  ASSERT_EQ(Commit("g", a.generation_id, a.member_id, {{"t", 0, 11, ""}, {"t", 3, 33, ""}}),
            GroupError::kNone);
  coordinator_.reset();
  Start();
  EXPECT_THAT(Fetch("g").offsets, ElementsAre(FieldsAre("t", 0, 11, ""), FieldsAre("t", 3, 33, "")));
  GroupDescription d = Describe("g");
  EXPECT_EQ(d.state, "Empty");  // members do not survive; offsets do
}

TEST_F(CoordinatorTest, SimpleCommitAllowedOnlyWhileGroupHasNoMembers) {
  Start();
  EXPECT_EQ(Commit("tool", -1, "", {{"t", 0, 9, ""}}), GroupError::kNone);
  EXPECT_EQ(Fetch("tool", {{"t", 0}}).offsets[0].offset, 9);
  EXPECT_EQ(Describe("tool").state, "Empty");  // committing made the group exist

  JoinGroupResult a = FormGroup("g", {JoinReq("g", "a")})[0];
  EXPECT_EQ(Commit("g", -1, "", {{"t", 0, 9, ""}}), GroupError::kIllegalGeneration);
  ASSERT_EQ(Leave("g", a.member_id), GroupError::kNone);
  EXPECT_EQ(Commit("g", -1, "", {{"t", 0, 9, ""}}), GroupError::kNone);
}

TEST_F(CoordinatorTest, OffsetFetchOfUnknownGroupIsNotAnError) {
  Start();
  OffsetFetchResult f = Fetch("nobody", {{"t", 0}});
  EXPECT_EQ(f.error, GroupError::kNone);
  EXPECT_THAT(f.offsets, ElementsAre(FieldsAre("t", 0, -1, "")));
  EXPECT_THAT(Fetch("nobody").offsets, IsEmpty());
  EXPECT_EQ(Fetch("").error, GroupError::kInvalidGroupId);
}

TEST_F(CoordinatorTest, StorageFailuresAreReported) {
  Start();
  store_.fail_put = true;
  EXPECT_EQ(Commit("g", -1, "", {{"t", 0, 9, ""}}), GroupError::kStorageError);
  store_.fail_put = false;
  EXPECT_EQ(Fetch("g", {{"t", 0}}).offsets[0].offset, -1);  // nothing half-applied

  ASSERT_TRUE(store_.PutGroupOffsets("stored", {{"t", 0, 1, "", 0}}).ok());
  store_.fail_get = true;
  EXPECT_EQ(Fetch("stored").error, GroupError::kStorageError);
  EXPECT_EQ(Describe("stored").error, GroupError::kStorageError);
  store_.fail_get = false;
  EXPECT_EQ(Fetch("stored").offsets[0].offset, 1);

  store_.fail_delete = true;
  EXPECT_THAT(Delete({"stored"}), ElementsAre(Outcome{"stored", GroupError::kStorageError}));
  store_.fail_delete = false;
  EXPECT_EQ(Fetch("stored").offsets[0].offset, 1);  // still there, still served
}

TEST_F(CoordinatorTest, CommitWriteRunsOffTheStrand) {
  Start();
  store_.CloseGate();
  Reply<OffsetCommitResult> commit = CommitAsync("g", -1, "", {{"t", 0, 9, ""}});
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(commit.Ready());
  // The coordinator keeps answering while the write is stuck in the store.
  EXPECT_EQ(Heartbeat("g", 0, "ghost"), GroupError::kUnknownMemberId);
  EXPECT_THAT(List(), SizeIs(1));
  store_.OpenGate();
  EXPECT_EQ(commit.Get().error, GroupError::kNone);
}

TEST_F(CoordinatorTest, ShutdownWaitsForInFlightCommits) {
  Start();
  store_.CloseGate();
  Reply<OffsetCommitResult> commit = CommitAsync("g", -1, "", {{"t", 0, 9, ""}});
  std::this_thread::sleep_for(20ms);
  std::thread opener([this] {
    std::this_thread::sleep_for(50ms);
    store_.OpenGate();
  });
  c().Shutdown();
  opener.join();
  ASSERT_TRUE(commit.Ready()) << "Shutdown returned before the commit's callback ran";
  EXPECT_EQ(commit.Get().error, GroupError::kNone);
  EXPECT_EQ(store_.Stored("g", "t", 0), 9);
}

// ---- admin ----------------------------------------------------------------------------------

TEST_F(CoordinatorTest, DescribeComputesLagFromHighWatermarks) {
  Start();
  SetHighWatermark("t", 0, 15);
  SetHighWatermark("t", 1, 3);  // committed past the high watermark: lag 0, not negative
  ASSERT_EQ(Commit("g", -1, "", {{"t", 0, 10, ""}, {"t", 1, 5, ""}, {"gone", 0, 3, ""}}), GroupError::kNone);
  GroupDescription d = Describe("g");
  EXPECT_EQ(d.error, GroupError::kNone);
  EXPECT_EQ(d.state, "Empty");
  EXPECT_THAT(d.offsets, ElementsAre(FieldsAre("t", 0, 10, 15, 5), FieldsAre("t", 1, 5, 3, 0)));
}

TEST_F(CoordinatorTest, DescribeUnknownGroupIsDeadWithoutError) {
  Start();
  GroupDescription d = Describe("nobody");
  EXPECT_EQ(d.group_id, "nobody");
  EXPECT_EQ(d.error, GroupError::kNone);
  EXPECT_EQ(d.state, "Dead");
  EXPECT_THAT(d.members, IsEmpty());
}

TEST_F(CoordinatorTest, ListGroupsIncludesGroupsOnlyInTheStore) {
  ASSERT_TRUE(store_.PutGroupOffsets("stored", {{"t", 0, 1, "", 0}}).ok());
  Start();
  FormGroup("live", {JoinReq("live", "a")});
  ASSERT_EQ(Commit("tool", -1, "", {{"t", 0, 1, ""}}), GroupError::kNone);
  auto listed = List();
  ASSERT_THAT(listed, SizeIs(3));
  EXPECT_THAT(listed[0], FieldsAre("live", "consumer", "Stable"));
  EXPECT_THAT(listed[1], FieldsAre("stored", "", "Empty"));
  EXPECT_THAT(listed[2], FieldsAre("tool", "", "Empty"));
}

TEST_F(CoordinatorTest, DeleteGroupsOnlyDeletesEmptyGroups) {
  ASSERT_TRUE(store_.PutGroupOffsets("stored", {{"t", 0, 1, "", 0}}).ok());
  Start();
  FormGroup("live", {JoinReq("live", "a")});
  ASSERT_EQ(Commit("tool", -1, "", {{"t", 0, 4, ""}}), GroupError::kNone);

  auto results = Delete({"live", "nobody", "tool", "stored", "tool", ""});
  EXPECT_THAT(results, ElementsAre(Outcome{"live", GroupError::kNonEmptyGroup},
                                   Outcome{"nobody", GroupError::kGroupIdNotFound},
                                   Outcome{"tool", GroupError::kNone},
                                   Outcome{"stored", GroupError::kNone},
                                   Outcome{"tool", GroupError::kGroupIdNotFound},
                                   Outcome{"", GroupError::kInvalidGroupId}));
  EXPECT_EQ(store_.Stored("tool", "t", 0), std::nullopt);
  EXPECT_EQ(store_.Stored("stored", "t", 0), std::nullopt);
  EXPECT_EQ(Fetch("tool", {{"t", 0}}).offsets[0].offset, -1);
  EXPECT_EQ(Describe("tool").state, "Dead");
  auto listed = List();
  ASSERT_THAT(listed, SizeIs(1));
  EXPECT_EQ(listed[0].group_id, "live");
}

// ---- shutdown -------------------------------------------------------------------------------

TEST_F(CoordinatorTest, ShutdownFailsHeldJoinAndLaterCalls) {
  GroupCoordinator::Options o = DefaultOptions();
  o.initial_rebalance_delay_ms = 10000;
  Start(o);
  Reply<JoinGroupResult> held = JoinAsync(JoinReq("g", "a"));
  std::this_thread::sleep_for(30ms);
  ASSERT_FALSE(held.Ready());
  c().Shutdown();
  ASSERT_TRUE(held.Ready()) << "Shutdown returned with a held JoinGroup";
  EXPECT_EQ(held.Get().error, GroupError::kCoordinatorNotAvailable);
  EXPECT_EQ(Heartbeat("g", 0, "x"), GroupError::kCoordinatorNotAvailable);
  EXPECT_EQ(Join(JoinReq("g", "b")).error, GroupError::kCoordinatorNotAvailable);
  EXPECT_EQ(Commit("g", -1, "", {{"t", 0, 1, ""}}), GroupError::kCoordinatorNotAvailable);
  c().Shutdown();  // idempotent; the destructor calls it a third time
}

TEST_F(CoordinatorTest, DestroyingCoordinatorFailsHeldSync) {
  Start();
  auto joined = FormGroup("g", {JoinReq("g", "a"), JoinReq("g", "b")});
  Reply<JoinGroupResult> c_join = JoinAsync(JoinReq("g", "c"));
  std::vector<Reply<JoinGroupResult>> rejoins;
  rejoins.push_back(JoinAsync(Rejoin(JoinReq("g", "a"), joined[0].member_id)));
  rejoins.push_back(JoinAsync(Rejoin(JoinReq("g", "b"), joined[1].member_id)));
  std::vector<JoinGroupResult> gen2{c_join.Get(), rejoins[0].Get(), rejoins[1].Get()};
  std::vector<Reply<SyncGroupResult>> held;
  for (const auto& j : gen2) {
    ASSERT_EQ(j.error, GroupError::kNone);
    if (j.member_id != j.leader_id) held.push_back(SyncAsync("g", j));
  }
  ASSERT_THAT(held, SizeIs(2));
  std::this_thread::sleep_for(20ms);
  coordinator_.reset();
  for (auto& h : held) {
    ASSERT_TRUE(h.Ready());
    EXPECT_EQ(h.Get().error, GroupError::kCoordinatorNotAvailable);
  }
}

}  // namespace
}  // namespace sluice::broker
