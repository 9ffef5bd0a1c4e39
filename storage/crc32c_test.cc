#include "storage/crc32c.h"

#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::storage {
namespace {

std::span<const uint8_t> Span(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Crc32cTest, CheckValueOf123456789) { EXPECT_EQ(Crc32c(Span("123456789")), 0xE3069283u); }

TEST(Crc32cTest, EmptyInputIsZero) { EXPECT_EQ(Crc32c({}), 0u); }

// RFC 3720 (iSCSI), appendix B.4 "CRC Examples".
TEST(Crc32cTest, Rfc3720ThirtyTwoZeros) {
  std::array<uint8_t, 32> buf{};
  EXPECT_EQ(Crc32c(buf), 0x8A9136AAu);
}

TEST(Crc32cTest, Rfc3720ThirtyTwoOnes) {
  std::array<uint8_t, 32> buf;
  buf.fill(0xFF);
  EXPECT_EQ(Crc32c(buf), 0x62A8AB43u);
}

TEST(Crc32cTest, Rfc3720IncrementingBytes) {
  std::array<uint8_t, 32> buf;
  std::iota(buf.begin(), buf.end(), 0);
  EXPECT_EQ(Crc32c(buf), 0x46DD794Eu);
}

TEST(Crc32cTest, Rfc3720DecrementingBytes) {
  std::array<uint8_t, 32> buf;
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc32c(buf), 0x113FDB5Cu);
}

TEST(Crc32cTest, ExtendOverEverySplitEqualsWhole) {
  std::mt19937 rng(20240601);
  std::vector<uint8_t> data(1000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const std::span<const uint8_t> all(data);
  const uint32_t whole = Crc32c(all);
  for (size_t split = 0; split <= data.size(); ++split) {
    ASSERT_EQ(Crc32cExtend(Crc32c(all.first(split)), all.subspan(split)), whole) << split;
  }
}

TEST(Crc32cTest, ExtendInManyPiecesEqualsWhole) {
  const std::string_view text = "The quick brown fox jumps over the lazy dog";
  uint32_t crc = 0;
  for (char c : text) crc = Crc32cExtend(crc, Span(std::string_view(&c, 1)));
  EXPECT_EQ(crc, Crc32c(Span(text)));
  EXPECT_EQ(crc, 0x22620404u);  // Published CRC-32C of this sentence.
}

TEST(Crc32cTest, ExtendByNothingIsIdentity) {
  const uint32_t crc = Crc32c(Span("123456789"));
  EXPECT_EQ(Crc32cExtend(crc, {}), crc);
}

}  // namespace
}  // namespace sluice::storage
