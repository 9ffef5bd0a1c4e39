#include "client/src/frame_codec.h"

#include <gtest/gtest.h>

#include "proto/native.pb.h"
#include "proto/native_frame.h"

namespace sluice::client {
namespace {

TEST(FrameCodecTest, HeadCarriesLengthsAndHeaderThenParses) {
  native::RequestHeader h;
  h.set_version(1);
  h.set_request_id(77);
  h.mutable_metadata()->add_topics("orders");
  const std::string payload = "PAYLOAD";
  const std::string head = EncodeFrameHead(h, payload.size());
  const auto* b = reinterpret_cast<const uint8_t*>(head.data());
  const uint32_t header_size = static_cast<uint32_t>(h.ByteSizeLong());
  EXPECT_EQ(native::GetFrameU32(b), 4 + header_size + payload.size());
  EXPECT_EQ(native::GetFrameU32(b + 4), header_size);
  EXPECT_EQ(head.size(), 8 + header_size);

  const std::string body = head.substr(4) + payload;
  native::RequestHeader parsed;
  auto at = ParseFrameBody(body, &parsed);
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(*at, 4 + header_size);
  EXPECT_EQ(body.substr(*at), "PAYLOAD");
  EXPECT_EQ(parsed.request_id(), 77u);
  EXPECT_EQ(parsed.metadata().topics(0), "orders");
}

TEST(FrameCodecTest, RejectsHeaderLengthBeyondTheFrame) {
  std::string body(4, '\0');
  native::PutFrameU32(reinterpret_cast<uint8_t*>(body.data()), 100);
  body += "xx";
  native::ResponseHeader h;
  EXPECT_EQ(ParseFrameBody(body, &h).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseFrameBody("ab", &h).status().code(), absl::StatusCode::kDataLoss);
}

TEST(FrameCodecTest, RejectsAHeaderThatDoesNotParse) {
  std::string body(4, '\0');
  native::PutFrameU32(reinterpret_cast<uint8_t*>(body.data()), 3);
  body += "\xff\xff\xff";
  native::ResponseHeader h;
  EXPECT_EQ(ParseFrameBody(body, &h).status().code(), absl::StatusCode::kDataLoss);
}

TEST(FrameCodecTest, SplitPayloadChecksSizes) {
  auto parts = SplitPayload("aaabbbbc", {3, 4, 1});
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(*parts, (std::vector<std::string_view>{"aaa", "bbbb", "c"}));
  EXPECT_FALSE(SplitPayload("aaa", {4}).ok());
  EXPECT_FALSE(SplitPayload("aaaa", {3}).ok());
  EXPECT_TRUE(SplitPayload("", {}).ok());
}

}  // namespace
}  // namespace sluice::client
