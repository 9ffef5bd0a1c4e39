#include "sluice/admin.h"

#include <gtest/gtest.h>

#include "client/testing/fake_broker.h"
#include "client/testing/test_util.h"
#include "sluice/consumer.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using client::testing::FakeBroker;
using client::testing::IsOk;
using client::testing::StatusIs;
using client::testing::WaitUntil;

class AdminTest : public ::testing::Test {
 protected:
  std::unique_ptr<Admin> Make(std::string address) {
    AdminConfig c;
    c.bootstrap_servers = {std::move(address)};
    c.request_timeout = 2s;
    c.reconnect_backoff = 10ms;
    auto a = Admin::Create(c);
    EXPECT_THAT(a, IsOk());
    return a.ok() ? std::move(*a) : nullptr;
  }
  FakeBroker broker_;
};

TEST_F(AdminTest, CreatesDescribesAndDeletesTopics) {
  auto admin = Make(broker_.address());
  ASSERT_THAT(admin->CreateTopic("orders", 3, {{"retention.ms", "86400000"}}), IsOk());
  EXPECT_THAT(admin->CreateTopic("orders", 3), StatusIs(absl::StatusCode::kAlreadyExists));
  auto batch = admin->CreateTopics({{"a", 1, {}}, {"", 1, {}}, {"b", 2, {}}});
  ASSERT_THAT(batch, IsOk());
  EXPECT_THAT(batch->at("a"), IsOk());
  EXPECT_THAT(batch->at(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(batch->at("b"), IsOk());
  auto validated = admin->CreateTopics({{"dry", 1, {}}}, /*validate_only=*/true);
  ASSERT_THAT(validated, IsOk());
  EXPECT_THAT(validated->at("dry"), IsOk());
  EXPECT_FALSE(broker_.HasTopic("dry"));

  auto topics = admin->ListTopics();
  ASSERT_THAT(topics, IsOk());
  EXPECT_EQ(*topics, (std::vector<std::string>{"a", "b", "orders"}));

  broker_.Append({"orders", 1}, {"x", "y"});
  auto described = admin->DescribeTopics({"orders"});
  ASSERT_THAT(described, IsOk());
  ASSERT_EQ(described->size(), 1u);
  const TopicDescription& d = (*described)[0];
  EXPECT_EQ(d.name, "orders");
  ASSERT_EQ(d.partitions.size(), 3u);
  EXPECT_EQ(d.partitions[1].partition, 1);
  EXPECT_EQ(d.partitions[1].leader, 0);
  EXPECT_EQ(d.partitions[1].log_start_offset, 0);
  EXPECT_EQ(d.partitions[1].high_watermark, 2);
  EXPECT_EQ(d.partitions[0].high_watermark, 0);

  auto config = admin->DescribeConfigs("orders");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->configs.at("retention.ms"), "86400000");
  EXPECT_EQ(config->configs.at("cleanup.policy"), "delete");
  EXPECT_EQ(config->overridden, (std::set<std::string>{"retention.ms"}));

  ASSERT_THAT(admin->DeleteTopic("orders"), IsOk());
  EXPECT_THAT(admin->DeleteTopic("orders"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(admin->DescribeTopics({"orders"}), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(admin->DescribeConfigs("orders"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AdminTest, DescribesGroupsWithAssignmentsCommittedOffsetsAndLag) {
  broker_.CreateTopic("t", 2);
  broker_.Append({"t", 0}, {"a", "b", "c", "d", "e"});
  ConsumerConfig cc;
  cc.bootstrap_servers = {broker_.address()};
  cc.client_id = "c";
  cc.group_id = "g";
  cc.enable_auto_commit = false;
  cc.auto_offset_reset = AutoOffsetReset::kEarliest;
  cc.heartbeat_interval = 50ms;
  cc.session_timeout = 3s;
  cc.fetch_max_wait = 50ms;
  cc.assignors = {"roundrobin", "range"};
  auto consumer = Consumer::Create(cc);
  ASSERT_THAT(consumer, IsOk());
  Consumer& c = **consumer;
  ASSERT_THAT(c.Subscribe({"t"}), IsOk());
  ASSERT_TRUE(WaitUntil([&] {
    EXPECT_THAT(c.Poll(10ms), IsOk());
    return c.Assignment().size() == 2;
  }));
  ASSERT_THAT(c.Commit({{{"t", 0}, {2, ""}}, {{"t", 1}, {0, ""}}}), IsOk());

  auto admin = Make(broker_.address());
  auto listed = admin->ListGroups();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].group_id, "g");
  EXPECT_EQ((*listed)[0].protocol_type, "consumer");
  EXPECT_EQ((*listed)[0].state, "Stable");

  auto groups = admin->DescribeGroups({"g"});
  ASSERT_THAT(groups, IsOk());
  ASSERT_EQ(groups->size(), 1u);
  const GroupDescription& g = (*groups)[0];
  EXPECT_EQ(g.state, "Stable");
  EXPECT_EQ(g.protocol_type, "consumer");
  EXPECT_EQ(g.protocol, "roundrobin");
  EXPECT_EQ(g.generation, 1);
  ASSERT_EQ(g.members.size(), 1u);
  EXPECT_EQ(g.members[0].member_id, "c-1");
  EXPECT_EQ(g.members[0].client_id, "c");
  EXPECT_EQ(g.members[0].subscribed_topics, std::vector<std::string>{"t"});
  EXPECT_EQ(g.members[0].assignment, (std::vector<TopicPartition>{{"t", 0}, {"t", 1}}));
  ASSERT_EQ(g.offsets.size(), 2u);
  EXPECT_EQ(g.offsets[0].partition, (TopicPartition{"t", 0}));
  EXPECT_EQ(g.offsets[0].committed_offset, 2);
  EXPECT_EQ(g.offsets[0].high_watermark, 5);
  EXPECT_EQ(g.offsets[0].lag, 3);
  EXPECT_EQ(g.offsets[1].lag, 0);

  EXPECT_THAT(admin->DescribeGroups({"nope"}), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(c.Close(), IsOk());
  groups = admin->DescribeGroups({"g"});
  ASSERT_THAT(groups, IsOk());
  EXPECT_EQ((*groups)[0].state, "Empty");
  EXPECT_TRUE((*groups)[0].members.empty());
}

TEST_F(AdminTest, UnreachableBrokerFailsWithinTheRequestTimeout) {
  client::testing::RefusingPort refusing;
  auto admin = Make("127.0.0.1:" + std::to_string(refusing.port()));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(admin->ListTopics(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  admin->Close();
  EXPECT_THAT(admin->ListTopics(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace sluice
