#include "client/src/consumer_protocol.h"

#include <gtest/gtest.h>

namespace sluice::client {
namespace {

std::string Hex(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

TEST(ConsumerProtocolTest, SubscriptionV0HasKafkasLayout) {
  const std::string bytes = EncodeSubscription(
      Subscription{.topics = {"a", "bc"}, .user_data = "", .owned_partitions = {}});
  // version 0 | 2 topics | "a" | "bc" | null user data
  EXPECT_EQ(Hex(bytes),
            "0000"
            "00000002"
            "000161"
            "00026263"
            "ffffffff");
  auto s = DecodeSubscription(bytes);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->topics, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(s->user_data, "");
  EXPECT_TRUE(s->owned_partitions.empty());
}

TEST(ConsumerProtocolTest, SubscriptionUserDataRoundTrips) {
  auto s = DecodeSubscription(EncodeSubscription(
      Subscription{.topics = {"t"}, .user_data = "xyz", .owned_partitions = {}}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->user_data, "xyz");
}

TEST(ConsumerProtocolTest, ReadsOwnedPartitionsOfAV1Subscription) {
  // What a Kafka client with the cooperative-sticky assignor sends: v1 with owned partitions.
  std::string v1(
      "\x00\x01"
      "\x00\x00\x00\x01"
      "\x00\x01t"
      "\xff\xff\xff\xff"
      "\x00\x00\x00\x01"
      "\x00\x01t"
      "\x00\x00\x00\x02"
      "\x00\x00\x00\x00"
      "\x00\x00\x00\x03",
      2 + 4 + 3 + 4 + 4 + 3 + 4 + 4 + 4);
  auto s = DecodeSubscription(v1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->topics, std::vector<std::string>{"t"});
  EXPECT_EQ(s->owned_partitions, (std::vector<TopicPartition>{{"t", 0}, {"t", 3}}));
}

TEST(ConsumerProtocolTest, AssignmentV0HasKafkasLayout) {
  const std::string bytes = EncodeAssignment(
      MemberAssignment{.partitions = {{"b", 0}, {"a", 1}, {"a", 0}}, .user_data = ""});
  // version 0 | 2 topics | "a" [0, 1] | "b" [0] | null user data
  EXPECT_EQ(Hex(bytes),
            "0000"
            "00000002"
            "000161"
            "00000002"
            "00000000"
            "00000001"
            "000162"
            "00000001"
            "00000000"
            "ffffffff");
  auto a = DecodeAssignment(bytes);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->partitions, (std::vector<TopicPartition>{{"a", 0}, {"a", 1}, {"b", 0}}));
}

TEST(ConsumerProtocolTest, EmptyAssignmentBytesMeanNoPartitions) {
  auto a = DecodeAssignment("");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->partitions.empty());
  EXPECT_EQ(Hex(EncodeAssignment({})),
            "0000"
            "00000000"
            "ffffffff");
}

TEST(ConsumerProtocolTest, TruncatedInputIsRejected) {
  const std::string bytes =
      EncodeAssignment(MemberAssignment{.partitions = {{"a", 0}}, .user_data = ""});
  for (size_t n = 1; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeAssignment(bytes.substr(0, n)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << n;
  }
  EXPECT_FALSE(DecodeSubscription("\x00\x00\x7f\xff\xff\xff").ok());  // absurd topic count
}

TEST(ConsumerProtocolTest, StickyUserDataRoundTrips) {
  const std::string bytes =
      EncodeStickyUserData({.previous_assignment = {{"t", 2}}, .generation = 7});
  EXPECT_EQ(Hex(bytes),
            "00000001"
            "000174"
            "00000001"
            "00000002"
            "00000007");
  auto d = DecodeStickyUserData(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->previous_assignment, (std::vector<TopicPartition>{{"t", 2}}));
  EXPECT_EQ(d->generation, 7);
}

}  // namespace
}  // namespace sluice::client
