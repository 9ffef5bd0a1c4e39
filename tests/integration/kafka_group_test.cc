// Consumer groups over the Kafka protocol against the real `sluiced` (fork/exec on ephemeral
// loopback ports, a fresh data dir per test). Requests are raw Kafka frames built with the
// generated message structs, so every version's encoding is what a Kafka client would send; the
// ConsumerProtocol bytes members exchange are written and read here from Kafka's schema, not with
// the client library's codec. The last test puts a raw Kafka member and a sluice::Consumer
// (native protocol) in one group. Every wait is bounded; the broker is stopped by PID.
//
//   FindCoordinatorAnswersThisBroker          v0-2; transactions refused with INVALID_REQUEST
//   JoinV4RequiresAKnownMemberId              MEMBER_ID_REQUIRED round trip from v4, not before
//   TwoMembersJoinSyncHeartbeatLeave          rebalance, leader's assignment, fencing, leave v1/v3
//   CommitAndFetchOffsetsRoundTrip            v0-7 (v6-7 flexible), errors per partition and group
//   ListDescribeAndDeleteGroups               states filter, Stable/Empty/Dead, NON_EMPTY_GROUP
//   KafkaMemberAndSluiceConsumerShareAGroup   each protocol as leader, Kafka ConsumerProtocol bytes
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sluice/admin.h"
#include "sluice/consumer.h"
#include "sluice/producer.h"
#include "tests/integration/kafka_group_test_util.h"
#include "tests/integration/sluiced_process.h"

namespace sluice {
namespace {

using namespace kafka_test;  // NOLINT: the helpers are this test's vocabulary
using e2e::BrokerProcess;
using e2e::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Kafka error codes, spelled out here rather than taken from the broker's errors.h.
constexpr int16_t kNone = 0;
constexpr int16_t kUnknownTopicOrPartition = 3;
constexpr int16_t kOffsetMetadataTooLarge = 12;
constexpr int16_t kIllegalGeneration = 22;
constexpr int16_t kInvalidGroupId = 24;
constexpr int16_t kUnknownMemberId = 25;
constexpr int16_t kRebalanceInProgress = 27;
constexpr int16_t kInvalidRequest = 42;
constexpr int16_t kMemberIdRequired = 79;
constexpr int16_t kNonEmptyGroup = 68;
constexpr int16_t kGroupIdNotFound = 69;

// ---------------------------------------------------------------- the fixture

class KafkaGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = e2e::MakeTempDir("sluice-kafka-group");
    ASSERT_FALSE(dir_.empty());
    broker_ = std::make_unique<BrokerProcess>(
        SLUICED_PATH, dir_,
        std::vector<std::string>{"--kafka-addr", "127.0.0.1:0", "--log-level", "debug",
                                 "--group-initial-rebalance-delay-ms", "0"});
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
    }
    std::error_code ec;
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<KafkaConn> Connect(const std::string& client_id = "kafka-test") {
    auto c = std::make_unique<KafkaConn>(client_id);
    EXPECT_TRUE(c->Connect(kafka_port_));
    return c;
  }

  template <typename Config>
  Config WithBootstrap(Config c) const {
    c.bootstrap_servers = {broker_->bootstrap()};
    c.request_timeout = milliseconds(15000);
    c.connect_timeout = milliseconds(5000);
    return c;
  }

  void CreateTopic(const std::string& name, int32_t partitions) {
    auto admin = Admin::Create(WithBootstrap(AdminConfig{}));
    ASSERT_TRUE(admin.ok()) << admin.status();
    absl::Status s = (*admin)->CreateTopic(name, partitions);
    ASSERT_TRUE(s.ok()) << s;
  }

  // Heartbeats until the group reports a rebalance (the join that causes it travels on another
  // connection, so the first heartbeats may still see the old generation as stable).
  AssertionResult AwaitRebalance(KafkaConn& c, const std::string& group, int32_t generation,
                                 const std::string& member_id) {
    const auto until = Clock::now() + seconds(15);
    while (Clock::now() < until) {
      msg::HeartbeatResponse h;
      AssertionResult called = c.Call(Heartbeat(group, generation, member_id), 3, &h);
      if (!called) return called;
      if (h.error_code == kRebalanceInProgress) return AssertionSuccess();
      if (h.error_code != kNone) return AssertionFailure() << "heartbeat error " << h.error_code;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return AssertionFailure() << "no REBALANCE_IN_PROGRESS within 15 s";
  }

  // A first JoinGroup (no member id), answered when the rebalance completes; `idle` runs while
  // waiting (a sluice consumer's Poll()). At v4+ a MEMBER_ID_REQUIRED answer is followed by a
  // join with the id given, as Kafka clients do.
  AssertionResult JoinAsNew(KafkaConn& c, msg::JoinGroupRequest req, int16_t version,
                            msg::JoinGroupResponse* out, const std::function<void()>& idle = {}) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      AssertionResult sent = c.Send(req, version);
      if (!sent) return sent;
      const auto until = Clock::now() + seconds(20);
      while (idle && !c.Readable(0) && Clock::now() < until) idle();
      AssertionResult received = c.Receive(out, version);
      if (!received) return received;
      if (version < 4 || out->error_code != kMemberIdRequired) return AssertionSuccess();
      req.member_id = out->member_id;
    }
    return AssertionFailure() << "MEMBER_ID_REQUIRED for a join with the id it gave";
  }

  std::string dir_;
  std::unique_ptr<BrokerProcess> broker_;
  uint16_t kafka_port_ = 0;
};

// ---------------------------------------------------------------- tests

TEST_F(KafkaGroupTest, FindCoordinatorAnswersThisBroker) {
  auto c = Connect();
  for (int16_t v = 0; v <= 2; ++v) {
    SCOPED_TRACE(v);
    msg::FindCoordinatorRequest req;
    req.key = "any-group";
    msg::FindCoordinatorResponse r;
    ASSERT_TRUE(c->Call(req, v, &r));
    EXPECT_EQ(r.error_code, kNone);
    EXPECT_EQ(r.node_id, 0);  // sluiced's default --node-id
    EXPECT_EQ(r.host, "127.0.0.1");
    EXPECT_EQ(r.port, kafka_port_);
  }
  // No transactions: refused at once rather than "not available" forever.
  msg::FindCoordinatorRequest txn;
  txn.key = "my-transactional-id";
  txn.key_type = 1;
  msg::FindCoordinatorResponse r;
  ASSERT_TRUE(c->Call(txn, 2, &r));
  EXPECT_EQ(r.error_code, kInvalidRequest);
  EXPECT_EQ(r.node_id, -1);
  ASSERT_TRUE(r.error_message.has_value());
  EXPECT_NE(r.error_message->find("transactions"), std::string::npos);
}

TEST_F(KafkaGroupTest, JoinV4RequiresAKnownMemberId) {
  auto c = Connect("v4-client");
  const std::string sub = KafkaSubscription({"t"});
  msg::JoinGroupResponse first;
  ASSERT_TRUE(c->Call(Join("g-v4", "", {{"range", sub}}), 4, &first));
  EXPECT_EQ(first.error_code, kMemberIdRequired);
  EXPECT_EQ(first.member_id.rfind("v4-client-", 0), 0u) << first.member_id;
  EXPECT_EQ(first.generation_id, -1);
  // Not a member until it joins with the id.
  msg::DescribeGroupsRequest dq;
  dq.groups = {"g-v4"};
  msg::DescribeGroupsResponse dr;
  ASSERT_TRUE(c->Call(dq, 4, &dr));
  ASSERT_EQ(dr.groups.size(), 1u);
  EXPECT_TRUE(dr.groups[0].members.empty());

  msg::JoinGroupResponse j;
  ASSERT_TRUE(c->Call(Join("g-v4", first.member_id, {{"range", sub}}), 5, &j));
  ASSERT_EQ(j.error_code, kNone);
  EXPECT_EQ(j.member_id, first.member_id);
  EXPECT_EQ(j.leader, first.member_id);
  EXPECT_EQ(j.generation_id, 1);
  // An id the coordinator never gave is still unknown.
  ASSERT_TRUE(c->Call(Join("g-v4", "v4-client-made-up", {{"range", sub}}), 5, &j));
  EXPECT_EQ(j.error_code, kUnknownMemberId);
  // Before v4 the first join is answered with the new member's id directly.
  ASSERT_TRUE(c->Call(Join("g-v3", "", {{"range", sub}}), 3, &j));
  EXPECT_EQ(j.error_code, kNone);
  EXPECT_EQ(j.generation_id, 1);
}

TEST_F(KafkaGroupTest, TwoMembersJoinSyncHeartbeatLeave) {
  const std::string group = "g-two";
  ASSERT_NO_FATAL_FAILURE(CreateTopic("t", 2));
  auto a = Connect("client-a");
  auto b = Connect("client-b");
  const std::string sub_a = KafkaSubscription({"t"}, "a-data");
  const std::string sub_b = KafkaSubscription({"t"}, "b-data");

  // A alone: generation 1, A leads and assigns itself everything.
  msg::JoinGroupResponse ja;
  ASSERT_TRUE(a->Call(Join(group, "", {{"range", sub_a}}), 3, &ja));
  ASSERT_EQ(ja.error_code, kNone);
  EXPECT_EQ(ja.generation_id, 1);
  EXPECT_EQ(ja.protocol_name, "range");
  EXPECT_EQ(ja.leader, ja.member_id);
  EXPECT_EQ(ja.member_id.rfind("client-a-", 0), 0u) << ja.member_id;
  ASSERT_EQ(ja.members.size(), 1u);
  EXPECT_EQ(ja.members[0].metadata, sub_a);
  const std::string id_a = ja.member_id;
  msg::SyncGroupResponse sa;
  ASSERT_TRUE(a->Call(Sync(group, 1, id_a, {{id_a, KafkaAssignment({{"t", {0, 1}}})}}), 2, &sa));
  ASSERT_EQ(sa.error_code, kNone);
  EXPECT_EQ(DecodeKafkaAssignment(sa.assignment), (PartitionsByTopic{{"t", {0, 1}}}));

  // B joins (held until A rejoins); A learns of the rebalance from its heartbeat.
  ASSERT_TRUE(b->Send(Join(group, "", {{"range", sub_b}}), 3));
  ASSERT_TRUE(AwaitRebalance(*a, group, 1, id_a));
  msg::JoinGroupResponse ja2;
  ASSERT_TRUE(a->Call(Join(group, id_a, {{"range", sub_a}}), 4, &ja2));
  msg::JoinGroupResponse jb;
  ASSERT_TRUE(b->Receive(&jb, 3));
  ASSERT_EQ(ja2.error_code, kNone);
  ASSERT_EQ(jb.error_code, kNone);
  EXPECT_EQ(ja2.generation_id, 2);
  EXPECT_EQ(jb.generation_id, 2);
  EXPECT_EQ(ja2.leader, id_a);  // the earliest member keeps the lead
  EXPECT_EQ(jb.leader, id_a);
  EXPECT_TRUE(jb.members.empty());  // only the leader sees the members
  const std::string id_b = jb.member_id;
  EXPECT_EQ(id_b.rfind("client-b-", 0), 0u) << id_b;
  std::map<std::string, std::string> seen;
  for (const auto& m : ja2.members) seen[m.member_id] = m.metadata;
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{id_a, sub_a}, {id_b, sub_b}}));

  // B's SyncGroup waits for the leader's, which delivers B's assignment.
  ASSERT_TRUE(b->Send(Sync(group, 2, id_b), 3));
  ASSERT_TRUE(a->Call(Sync(group, 2, id_a,
                           {{id_a, KafkaAssignment({{"t", {0}}})},
                            {id_b, KafkaAssignment({{"t", {1}}})}}),
                      3, &sa));
  msg::SyncGroupResponse sb;
  ASSERT_TRUE(b->Receive(&sb, 3));
  ASSERT_EQ(sa.error_code, kNone);
  ASSERT_EQ(sb.error_code, kNone);
  EXPECT_EQ(DecodeKafkaAssignment(sa.assignment), (PartitionsByTopic{{"t", {0}}}));
  EXPECT_EQ(DecodeKafkaAssignment(sb.assignment), (PartitionsByTopic{{"t", {1}}}));

  for (int16_t v = 0; v <= 3; ++v) {
    msg::HeartbeatResponse h;
    ASSERT_TRUE(b->Call(Heartbeat(group, 2, id_b), v, &h));
    EXPECT_EQ(h.error_code, kNone) << "v" << v;
  }
  msg::HeartbeatResponse stale;
  ASSERT_TRUE(b->Call(Heartbeat(group, 1, id_b), 2, &stale));
  EXPECT_EQ(stale.error_code, kIllegalGeneration);

  // A commit from the old generation is fenced; the current one commits.
  msg::OffsetCommitResponse cr;
  ASSERT_TRUE(a->Call(Commit(group, 1, id_a, "t", {{0, {5, "old"}}}), 2, &cr));
  ASSERT_EQ(cr.topics.size(), 1u);
  ASSERT_EQ(cr.topics[0].partitions.size(), 1u);
  EXPECT_EQ(cr.topics[0].partitions[0].error_code, kIllegalGeneration);
  ASSERT_TRUE(a->Call(Commit(group, 2, id_a, "t", {{0, {6, "new"}}}), 7, &cr));
  EXPECT_EQ(cr.topics[0].partitions[0].error_code, kNone);
  ASSERT_TRUE(b->Call(Commit(group, 2, "not-a-member", "t", {{1, {1, std::nullopt}}}), 5, &cr));
  EXPECT_EQ(cr.topics[0].partitions[0].error_code, kUnknownMemberId);

  // B leaves (v3 batch, with an unknown id answered on its own); A rejoins alone.
  msg::LeaveGroupResponse lr;
  ASSERT_TRUE(b->Call(LeaveV3(group, {id_b, "nobody"}), 3, &lr));
  EXPECT_EQ(lr.error_code, kNone);
  ASSERT_EQ(lr.members.size(), 2u);
  EXPECT_EQ(lr.members[0].member_id, id_b);
  EXPECT_EQ(lr.members[0].error_code, kNone);
  EXPECT_EQ(lr.members[1].member_id, "nobody");
  EXPECT_EQ(lr.members[1].error_code, kUnknownMemberId);
  ASSERT_TRUE(AwaitRebalance(*a, group, 2, id_a));
  ASSERT_TRUE(a->Call(Join(group, id_a, {{"range", sub_a}}), 5, &ja));
  ASSERT_EQ(ja.error_code, kNone);
  EXPECT_EQ(ja.generation_id, 3);
  ASSERT_EQ(ja.members.size(), 1u);

  // Leave v1 (one member id, top-level error).
  msg::LeaveGroupRequest leave;
  leave.group_id = group;
  leave.member_id = id_a;
  ASSERT_TRUE(a->Call(leave, 1, &lr));
  EXPECT_EQ(lr.error_code, kNone);
  ASSERT_TRUE(a->Call(leave, 0, &lr));
  EXPECT_EQ(lr.error_code, kUnknownMemberId);
  msg::DescribeGroupsRequest dq;
  dq.groups = {group};
  msg::DescribeGroupsResponse dr;
  ASSERT_TRUE(a->Call(dq, 0, &dr));
  ASSERT_EQ(dr.groups.size(), 1u);
  EXPECT_EQ(dr.groups[0].group_state, "Empty");
  EXPECT_TRUE(dr.groups[0].members.empty());
}

TEST_F(KafkaGroupTest, CommitAndFetchOffsetsRoundTrip) {
  const std::string group = "g-offsets";
  ASSERT_NO_FATAL_FAILURE(CreateTopic("o", 3));
  auto c = Connect();

  // Outside any generation (no members): what admin tools and self-assigning consumers do.
  msg::OffsetCommitRequest commit =
      Commit(group, -1, "", "o",
             {{0, {10, "m0"}}, {1, {20, std::nullopt}}, {2, {30, std::string(5000, 'x')}},
              {7, {1, std::nullopt}}});
  {
    msg::OffsetCommitRequest::OffsetCommitRequestTopic missing;
    missing.name = "no-such-topic";
    missing.partitions.resize(1);
    missing.partitions[0].committed_offset = 1;
    commit.topics.push_back(std::move(missing));
  }
  msg::OffsetCommitResponse cr;
  ASSERT_TRUE(c->Call(commit, 2, &cr));
  ASSERT_EQ(cr.topics.size(), 2u);
  ASSERT_EQ(cr.topics[0].name, "o");
  std::map<int32_t, int16_t> errors;
  for (const auto& p : cr.topics[0].partitions) errors[p.partition_index] = p.error_code;
  EXPECT_EQ(errors, (std::map<int32_t, int16_t>{{0, kNone},
                                                {1, kNone},
                                                {2, kOffsetMetadataTooLarge},
                                                {7, kUnknownTopicOrPartition}}));
  EXPECT_EQ(cr.topics[1].name, "no-such-topic");
  ASSERT_EQ(cr.topics[1].partitions.size(), 1u);
  EXPECT_EQ(cr.topics[1].partitions[0].error_code, kUnknownTopicOrPartition);

  using Key = std::pair<std::string, int32_t>;
  const std::map<Key, Committed> want = {{{"o", 0}, {10, "m0", kNone}},
                                         {{"o", 1}, {20, "", kNone}},
                                         {{"o", 2}, {-1, "", kNone}}};  // nothing committed
  for (int16_t v : {1, 2, 5, 6, 7}) {
    SCOPED_TRACE(v);
    msg::OffsetFetchResponse fr;
    ASSERT_TRUE(c->Call(FetchOffsets(group, PartitionsByTopic{{"o", {0, 1, 2}}}), v, &fr));
    EXPECT_EQ(fr.error_code, kNone);
    EXPECT_EQ(Flatten(fr), want);
  }
  // Null topics (v2+): everything the group committed.
  for (int16_t v : {2, 7}) {
    msg::OffsetFetchResponse fr;
    ASSERT_TRUE(c->Call(FetchOffsets(group, std::nullopt), v, &fr));
    EXPECT_EQ(Flatten(fr), (std::map<Key, Committed>{{{"o", 0}, {10, "m0", kNone}},
                                                     {{"o", 1}, {20, "", kNone}}}))
        << "v" << v;
  }

  // v0 (no generation) and v7 overwrite; a later fetch sees the last commit.
  ASSERT_TRUE(c->Call(Commit(group, -1, "", "o", {{0, {11, "v0"}}}), 0, &cr));
  EXPECT_EQ(cr.topics[0].partitions[0].error_code, kNone);
  ASSERT_TRUE(c->Call(Commit(group, -1, "", "o", {{1, {21, "v7"}}}), 7, &cr));
  EXPECT_EQ(cr.topics[0].partitions[0].error_code, kNone);
  msg::OffsetFetchResponse fr;
  ASSERT_TRUE(c->Call(FetchOffsets(group, std::nullopt), 6, &fr));
  EXPECT_EQ(Flatten(fr), (std::map<Key, Committed>{{{"o", 0}, {11, "v0", kNone}},
                                                   {{"o", 1}, {21, "v7", kNone}}}));

  // A group nobody used: nothing committed, no error.
  ASSERT_TRUE(c->Call(FetchOffsets("g-unused", PartitionsByTopic{{"o", {0}}}), 3, &fr));
  EXPECT_EQ(Flatten(fr), (std::map<Key, Committed>{{{"o", 0}, {-1, "", kNone}}}));
  // A group-level error: top-level from v2, per partition before.
  ASSERT_TRUE(c->Call(FetchOffsets("", PartitionsByTopic{{"o", {0}}}), 2, &fr));
  EXPECT_EQ(fr.error_code, kInvalidGroupId);
  EXPECT_TRUE(fr.topics.empty());
  ASSERT_TRUE(c->Call(FetchOffsets("", PartitionsByTopic{{"o", {0}}}), 1, &fr));
  EXPECT_EQ(Flatten(fr), (std::map<Key, Committed>{{{"o", 0}, {-1, "", kInvalidGroupId}}}));
}

TEST_F(KafkaGroupTest, ListDescribeAndDeleteGroups) {
  ASSERT_NO_FATAL_FAILURE(CreateTopic("d", 1));
  auto c = Connect("describer");
  const std::string sub = KafkaSubscription({"d"});
  msg::JoinGroupResponse j;
  ASSERT_TRUE(JoinAsNew(*c, Join("g-active", "", {{"roundrobin", sub}}), 5, &j));
  ASSERT_EQ(j.error_code, kNone);
  const std::string assignment = KafkaAssignment({{"d", {0}}});
  msg::SyncGroupResponse s;
  ASSERT_TRUE(c->Call(Sync("g-active", j.generation_id, j.member_id, {{j.member_id, assignment}}),
                      3, &s));
  ASSERT_EQ(s.error_code, kNone);
  msg::OffsetCommitResponse cr;
  ASSERT_TRUE(c->Call(Commit("g-offsets-only", -1, "", "d", {{0, {3, std::nullopt}}}), 3, &cr));
  ASSERT_EQ(cr.topics[0].partitions[0].error_code, kNone);

  for (int16_t v = 0; v <= 4; ++v) {
    SCOPED_TRACE(v);
    msg::ListGroupsResponse lr;
    ASSERT_TRUE(c->Call(msg::ListGroupsRequest{}, v, &lr));
    EXPECT_EQ(lr.error_code, kNone);
    std::map<std::string, std::pair<std::string, std::string>> listed;
    for (const auto& g : lr.groups) listed[g.group_id] = {g.protocol_type, g.group_state};
    const std::string stable = v >= 4 ? "Stable" : "";
    const std::string empty = v >= 4 ? "Empty" : "";
    EXPECT_EQ(listed, (std::map<std::string, std::pair<std::string, std::string>>{
                          {"g-active", {"consumer", stable}}, {"g-offsets-only", {"", empty}}}));
  }
  msg::ListGroupsRequest filtered;
  filtered.states_filter = {"stable"};
  msg::ListGroupsResponse lr;
  ASSERT_TRUE(c->Call(filtered, 4, &lr));
  ASSERT_EQ(lr.groups.size(), 1u);
  EXPECT_EQ(lr.groups[0].group_id, "g-active");

  msg::DescribeGroupsRequest dq;
  dq.groups = {"g-active", "g-offsets-only", "g-unknown"};
  dq.include_authorized_operations = true;
  for (int16_t v : {0, 4}) {
    SCOPED_TRACE(v);
    msg::DescribeGroupsResponse dr;
    ASSERT_TRUE(c->Call(dq, v, &dr));
    ASSERT_EQ(dr.groups.size(), 3u);
    const auto& active = dr.groups[0];
    EXPECT_EQ(active.error_code, kNone);
    EXPECT_EQ(active.group_id, "g-active");
    EXPECT_EQ(active.group_state, "Stable");
    EXPECT_EQ(active.protocol_type, "consumer");
    EXPECT_EQ(active.protocol_data, "roundrobin");
    ASSERT_EQ(active.members.size(), 1u);
    EXPECT_EQ(active.members[0].member_id, j.member_id);
    EXPECT_FALSE(active.members[0].group_instance_id.has_value());
    EXPECT_EQ(active.members[0].client_id, "describer");
    EXPECT_EQ(active.members[0].client_host, "127.0.0.1");
    EXPECT_EQ(active.members[0].member_metadata, sub);
    EXPECT_EQ(active.members[0].member_assignment, assignment);
    EXPECT_EQ(active.authorized_operations, std::numeric_limits<int32_t>::min());
    EXPECT_EQ(dr.groups[1].group_state, "Empty");
    EXPECT_TRUE(dr.groups[1].members.empty());
    EXPECT_EQ(dr.groups[2].error_code, kNone);
    EXPECT_EQ(dr.groups[2].group_state, "Dead");
  }

  msg::DeleteGroupsRequest del;
  del.groups_names = {"g-active", "g-offsets-only", "g-unknown"};
  msg::DeleteGroupsResponse delr;
  ASSERT_TRUE(c->Call(del, 1, &delr));
  std::map<std::string, int16_t> results;
  for (const auto& r : delr.results) results[r.group_id] = r.error_code;
  EXPECT_EQ(results, (std::map<std::string, int16_t>{{"g-active", kNonEmptyGroup},
                                                     {"g-offsets-only", kNone},
                                                     {"g-unknown", kGroupIdNotFound}}));
  // The deleted group's offsets are gone; the active group is still listed.
  msg::OffsetFetchResponse fr;
  ASSERT_TRUE(c->Call(FetchOffsets("g-offsets-only", std::nullopt), 2, &fr));
  EXPECT_TRUE(fr.topics.empty());
  ASSERT_TRUE(c->Call(msg::ListGroupsRequest{}, 0, &lr));
  ASSERT_EQ(lr.groups.size(), 1u);
  EXPECT_EQ(lr.groups[0].group_id, "g-active");
}


// A raw Kafka member (K) and a sluice::Consumer (C, native protocol, client library) in one
// group, with each of them as the leader in turn: C must read K's Kafka 3.x subscription and
// K's assignment, and K must read C's subscription and the assignment C computes.
TEST_F(KafkaGroupTest, KafkaMemberAndSluiceConsumerShareAGroup) {
  const std::string group = "g-mixed";
  const std::string topic = "mixed";
  ASSERT_NO_FATAL_FAILURE(CreateTopic(topic, 4));
  auto k = Connect("kafka-member");
  // What a Kafka 3.x consumer with its default assignors sends: range first, then
  // cooperative-sticky with its user data (an int32 generation).
  Writer generation;
  generation.Int32(-1);
  const std::vector<std::pair<std::string, std::string>> k_protocols = {
      {"range", KafkaSubscription({topic})},
      {"cooperative-sticky", KafkaSubscription({topic}, Bytes(generation))}};

  // 1. K alone leads generation 1 and takes every partition.
  msg::JoinGroupResponse kj;
  ASSERT_TRUE(JoinAsNew(*k, Join(group, "", k_protocols), 5, &kj));
  ASSERT_EQ(kj.error_code, kNone);
  std::string k_id = kj.member_id;
  msg::SyncGroupResponse ks;
  ASSERT_TRUE(k->Call(Sync(group, kj.generation_id, k_id,
                           {{k_id, KafkaAssignment({{topic, {0, 1, 2, 3}}})}}),
                      3, &ks));
  ASSERT_EQ(ks.error_code, kNone);

  // 2. C joins; K, still the leader, sees C's subscription and gives it partitions 2 and 3.
  ConsumerConfig cc = WithBootstrap(ConsumerConfig{});
  cc.group_id = group;
  cc.auto_offset_reset = AutoOffsetReset::kEarliest;
  cc.enable_auto_commit = false;
  cc.session_timeout = milliseconds(10000);
  cc.heartbeat_interval = milliseconds(200);
  cc.fetch_max_wait = milliseconds(100);
  auto created = Consumer::Create(cc);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Consumer> consumer = std::move(*created);
  ASSERT_TRUE(consumer->Subscribe({topic}).ok());
  std::vector<ConsumerRecord> received;
  auto poll = [&] {
    auto records = consumer->Poll(milliseconds(50));
    if (records.ok()) received.insert(received.end(), records->begin(), records->end());
  };
  bool rebalancing = false;
  for (auto until = Clock::now() + seconds(20); !rebalancing && Clock::now() < until;) {
    poll();
    msg::HeartbeatResponse h;
    ASSERT_TRUE(k->Call(Heartbeat(group, kj.generation_id, k_id), 3, &h));
    rebalancing = h.error_code == kRebalanceInProgress;
  }
  ASSERT_TRUE(rebalancing) << "the sluice consumer's join never started a rebalance";
  ASSERT_TRUE(k->Call(Join(group, k_id, k_protocols), 5, &kj));
  ASSERT_EQ(kj.error_code, kNone);
  ASSERT_EQ(kj.leader, k_id);
  EXPECT_EQ(kj.protocol_name, "range");
  ASSERT_EQ(kj.members.size(), 2u);
  std::string c_id;
  for (const auto& m : kj.members) {
    if (m.member_id == k_id) continue;
    c_id = m.member_id;
    auto sub = DecodeKafkaSubscription(m.metadata);
    ASSERT_TRUE(sub.has_value()) << "the sluice consumer's subscription is not Kafka's format";
    EXPECT_EQ(sub->topics, std::vector<std::string>{topic});
  }
  ASSERT_FALSE(c_id.empty());
  ASSERT_TRUE(k->Call(Sync(group, kj.generation_id, k_id,
                           {{k_id, KafkaAssignment({{topic, {0, 1}}})},
                            {c_id, KafkaAssignment({{topic, {2, 3}}})}}),
                      3, &ks));
  ASSERT_EQ(ks.error_code, kNone);
  const std::vector<TopicPartition> c_part = {{topic, 2}, {topic, 3}};
  for (auto until = Clock::now() + seconds(20);
       consumer->Assignment() != c_part && Clock::now() < until;) {
    poll();
  }
  ASSERT_EQ(consumer->Assignment(), c_part);

  // C reads exactly the records of its partitions.
  {
    auto producer = Producer::Create(WithBootstrap(ProducerConfig{}));
    ASSERT_TRUE(producer.ok()) << producer.status();
    for (int32_t p = 0; p < 4; ++p) {
      for (int i = 0; i < 3; ++i) {
        Record r;
        r.topic = topic;
        r.partition = p;
        r.value = "p" + std::to_string(p) + "-" + std::to_string(i);
        (*producer)->Send(std::move(r));
      }
    }
    ASSERT_TRUE((*producer)->Flush(seconds(20)).ok());
    EXPECT_TRUE((*producer)->Close().ok());
  }
  received.clear();
  for (auto until = Clock::now() + seconds(20); received.size() < 6 && Clock::now() < until;) {
    poll();
  }
  for (auto until = Clock::now() + milliseconds(500); Clock::now() < until;) poll();
  std::multiset<std::string> values;
  for (const auto& r : received) values.insert(r.value.value_or("<null>"));
  EXPECT_EQ(values, (std::multiset<std::string>{"p2-0", "p2-1", "p2-2", "p3-0", "p3-1", "p3-2"}));

  // 3. K leaves; C leads alone, then K joins afresh and gets its share from C's range assignor.
  msg::LeaveGroupResponse lr;
  ASSERT_TRUE(k->Call(LeaveV3(group, {k_id}), 3, &lr));
  ASSERT_EQ(lr.error_code, kNone);
  const std::vector<TopicPartition> all = {{topic, 0}, {topic, 1}, {topic, 2}, {topic, 3}};
  for (auto until = Clock::now() + seconds(20);
       consumer->Assignment() != all && Clock::now() < until;) {
    poll();
  }
  ASSERT_EQ(consumer->Assignment(), all);
  // K's join is held until C rejoins, which needs C's Poll() (eager revocation).
  ASSERT_TRUE(JoinAsNew(*k, Join(group, "", k_protocols), 5, &kj, poll));
  ASSERT_EQ(kj.error_code, kNone);
  k_id = kj.member_id;
  EXPECT_EQ(kj.protocol_name, "range");
  EXPECT_NE(kj.leader, k_id);  // C joined first
  EXPECT_TRUE(kj.members.empty());
  ASSERT_TRUE(k->Send(Sync(group, kj.generation_id, k_id), 3));
  for (auto until = Clock::now() + seconds(20); !k->Readable(0) && Clock::now() < until;) poll();
  ASSERT_TRUE(k->Receive(&ks, 3));
  ASSERT_EQ(ks.error_code, kNone);
  auto k_assigned = DecodeKafkaAssignment(ks.assignment);
  ASSERT_TRUE(k_assigned.has_value()) << "the sluice leader's assignment is not Kafka's format";
  ASSERT_EQ(k_assigned->size(), 1u);
  const std::vector<int32_t>& k_partitions = (*k_assigned)[topic];
  ASSERT_EQ(k_partitions.size(), 2u);
  std::vector<TopicPartition> rest;
  for (int32_t p = 0; p < 4; ++p) {
    if (std::find(k_partitions.begin(), k_partitions.end(), p) == k_partitions.end()) {
      rest.push_back({topic, p});
    }
  }
  for (auto until = Clock::now() + seconds(20);
       consumer->Assignment() != rest && Clock::now() < until;) {
    poll();
  }
  EXPECT_EQ(consumer->Assignment(), rest);

  // Both show in the Kafka view of the group.
  msg::DescribeGroupsRequest dq;
  dq.groups = {group};
  msg::DescribeGroupsResponse dr;
  ASSERT_TRUE(k->Call(dq, 4, &dr));
  ASSERT_EQ(dr.groups.size(), 1u);
  EXPECT_EQ(dr.groups[0].group_state, "Stable");
  EXPECT_EQ(dr.groups[0].protocol_type, "consumer");
  std::set<std::string> members;
  for (const auto& m : dr.groups[0].members) members.insert(m.member_id);
  EXPECT_EQ(members, (std::set<std::string>{k_id, c_id}));

  EXPECT_TRUE(consumer->Close(seconds(10)).ok());
}

}  // namespace
}  // namespace sluice
