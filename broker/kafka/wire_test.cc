// Kafka wire primitives: exact encodings, and a Reader that fails cleanly on hostile input
// (truncation, negative or oversized lengths, malformed varints) without reading out of bounds or
// allocating what the input does not hold.
#include "broker/kafka/wire.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sluice::broker::kafka {
namespace {

std::vector<uint8_t> B(std::initializer_list<int> bytes) {
  std::vector<uint8_t> out;
  for (int b : bytes) out.push_back(static_cast<uint8_t>(b));
  return out;
}

std::vector<uint8_t> Concat(std::vector<uint8_t> a, std::string_view s) {
  a.insert(a.end(), s.begin(), s.end());
  return a;
}

TEST(WireWriterTest, FixedWidthIntegersAreBigEndian) {
  Writer w;
  w.Int8(-2);
  w.Int16(0x0102);
  w.Int32(-2);
  w.Int64(0x0102030405060708);
  w.Uint16(0xFFFE);
  w.Uint32(0x80000001u);
  w.Bool(true);
  w.Bool(false);
  EXPECT_EQ(w.bytes(), B({0xFE, 0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xFE, 1, 2, 3, 4, 5,
                          6,    7,    8,    0xFF, 0xFE, 0x80, 0,    0, 1, 1, 0}));
}

TEST(WireWriterTest, Float64IsIeeeBigEndian) {
  Writer w;
  w.Float64(1.5);  // 0x3FF8000000000000
  EXPECT_EQ(w.bytes(), B({0x3F, 0xF8, 0, 0, 0, 0, 0, 0}));
  std::vector<uint8_t> buf = w.bytes();
  Reader r(buf);
  EXPECT_EQ(r.Float64(), 1.5);
  EXPECT_TRUE(r.ok());
}

TEST(WireWriterTest, VarintsAreZigZagAndUnsignedVarintsAreNot) {
  Writer w;
  w.Varint(0);
  w.Varint(-1);
  w.Varint(1);
  w.Varint(300);  // zigzag 600 = 0x258
  w.Varint(std::numeric_limits<int32_t>::min());
  w.UnsignedVarint(127);
  w.UnsignedVarint(128);
  w.UnsignedVarint(std::numeric_limits<uint32_t>::max());
  w.Varlong(-2);
  EXPECT_EQ(w.bytes(), B({0x00, 0x01, 0x02, 0xD8, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x7F, 0x80,
                          0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x03}));
  std::vector<uint8_t> buf = w.bytes();
  Reader r(buf);
  EXPECT_EQ(r.Varint(), 0);
  EXPECT_EQ(r.Varint(), -1);
  EXPECT_EQ(r.Varint(), 1);
  EXPECT_EQ(r.Varint(), 300);
  EXPECT_EQ(r.Varint(), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(r.UnsignedVarint(), 127u);
  EXPECT_EQ(r.UnsignedVarint(), 128u);
  EXPECT_EQ(r.UnsignedVarint(), std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(r.Varlong(), -2);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(WireWriterTest, StringsBytesAndTheirCompactAndNullForms) {
  Writer w;
  w.String("ab");
  w.NullableString(std::nullopt);
  w.CompactString("ab");
  w.CompactNullableString(std::nullopt);
  w.Bytes("x");
  w.NullableBytes(std::nullopt);
  w.CompactBytes("");
  w.CompactNullableBytes(std::string("y"));
  EXPECT_EQ(w.bytes(), B({0, 2, 'a', 'b', 0xFF, 0xFF, 3,    'a',  'b', 0, 0,
                          0, 0, 1,   'x', 0xFF, 0xFF, 0xFF, 0xFF, 1,   2, 'y'}));
}

TEST(WireWriterTest, OverlongStringIsCutToTheInt16Limit) {
  Writer w;
  w.String(std::string(40000, 'x'));
  w.NullableString(std::string(32768, 'y'));
  w.Int8(9);
  std::vector<uint8_t> buf = w.bytes();
  ASSERT_EQ(buf.size(), 2 * (2 + 32767) + 1u);
  EXPECT_EQ(buf[0], 0x7F);
  EXPECT_EQ(buf[1], 0xFF);
  Reader r(buf);
  EXPECT_EQ(r.String(), std::string(32767, 'x'));
  EXPECT_EQ(r.NullableString(), std::string(32767, 'y'));
  EXPECT_EQ(r.Int8(), 9);  // the frame stays in step
  EXPECT_TRUE(r.ok());
}

TEST(WireWriterTest, ArrayLengthsAndNullArrays) {
  Writer w;
  w.ArrayLength(2, false);
  w.ArrayLength(-1, false);
  w.ArrayLength(2, true);
  w.ArrayLength(-1, true);
  EXPECT_EQ(w.bytes(), B({0, 0, 0, 2, 0xFF, 0xFF, 0xFF, 0xFF, 3, 0}));
}

TEST(WireWriterTest, ReservedInt32IsPatched) {
  Writer w;
  w.Int8(7);
  const size_t at = w.ReserveInt32();
  w.String("abc");
  w.PatchInt32(at, static_cast<int32_t>(w.bytes().size() - at - 4));
  EXPECT_EQ(w.bytes(), B({7, 0, 0, 0, 5, 0, 3, 'a', 'b', 'c'}));
}

TEST(WireWriterTest, RecordsSlicesAreSplicedNotCopied) {
  Records rec;
  rec.null = false;
  rec.owned = "hd";
  rec.slices.push_back(storage::FileSlice{nullptr, 100, 40});
  rec.slices.push_back(storage::FileSlice{nullptr, 500, 0});  // empty: no splice
  rec.slices.push_back(storage::FileSlice{nullptr, 140, 20});
  EXPECT_EQ(rec.size(), 62u);
  Writer w;
  w.Int8(1);
  w.WriteRecords(rec, /*compact=*/false);
  w.Int8(2);
  // The length counts the slices; only the owned bytes are in the buffer.
  EXPECT_EQ(w.bytes(), B({1, 0, 0, 0, 62, 'h', 'd', 2}));
  ASSERT_EQ(w.splices().size(), 2u);
  EXPECT_EQ(w.splices()[0].at, 7u);
  EXPECT_EQ(w.splices()[0].slice.position, 100u);
  EXPECT_EQ(w.splices()[1].at, 7u);
  EXPECT_EQ(w.splices()[1].slice.position, 140u);
  EXPECT_EQ(w.size(), 8u + 60u);

  Writer c;
  c.WriteRecords(Records{}, /*compact=*/true);
  c.WriteRecords(Records{}, /*compact=*/false);
  EXPECT_EQ(c.bytes(), B({0, 0xFF, 0xFF, 0xFF, 0xFF}));
}

TEST(WireReaderTest, ReadsWhatTheWriterWrote) {
  Writer w;
  w.Int16(-3);
  w.String("hello");
  w.CompactNullableString(std::string(""));
  w.NullableBytes(std::string("\0\1", 2));
  Uuid u;
  for (size_t i = 0; i < u.size(); ++i) u[i] = static_cast<uint8_t>(i * 17);
  w.WriteUuid(u);
  std::vector<uint8_t> buf = w.bytes();
  Reader r(buf);
  EXPECT_EQ(r.Int16(), -3);
  EXPECT_EQ(r.String(), "hello");
  EXPECT_EQ(r.CompactNullableString(), std::optional<std::string>(""));
  EXPECT_EQ(r.NullableBytes(), std::optional<std::string>(std::string("\0\1", 2)));
  EXPECT_EQ(r.ReadUuid(), u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(WireReaderTest, RecordsViewTheBufferWithoutCopying) {
  auto buf = B({0, 0, 0, 3, 9, 8, 7, 0xFF, 0xFF, 0xFF, 0xFF, 3, 1, 2, 0});
  Reader r(buf);
  Records a = r.ReadRecords(false);
  ASSERT_FALSE(a.null);
  EXPECT_EQ(a.data.data(), buf.data() + 4);  // a view: Produce patches baseOffset in place
  EXPECT_EQ(a.data.size(), 3u);
  EXPECT_TRUE(r.ReadRecords(false).null);
  Records c = r.ReadRecords(true);
  ASSERT_FALSE(c.null);
  EXPECT_EQ(c.data.size(), 2u);
  EXPECT_TRUE(r.ReadRecords(true).null);
  EXPECT_TRUE(r.ok());
}

TEST(WireReaderTest, TruncatedFixedWidthFailsAndTheErrorSticks) {
  auto buf = B({0, 1, 2});
  Reader r(buf);
  EXPECT_EQ(r.Int16(), 1);
  EXPECT_EQ(r.Int32(), 0);
  EXPECT_FALSE(r.ok());
  const std::string first = r.error();
  EXPECT_NE(first.find("at byte 2"), std::string::npos) << first;
  // Later reads return zero values and keep the first reason, even ones that would fit.
  EXPECT_EQ(r.Int8(), 0);
  EXPECT_EQ(r.String(), "");
  EXPECT_EQ(r.ArrayLength(false), 0);
  EXPECT_EQ(r.error(), first);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(WireReaderTest, NegativeLengthsFail) {
  {
    auto buf = B({0xFF, 0xFE, 'a'});  // string length -2
    Reader r(buf);
    EXPECT_EQ(r.NullableString(), std::nullopt);
    EXPECT_FALSE(r.ok());
  }
  {
    auto buf = B({0xFF, 0xFF, 0xFF, 0xFE});  // bytes length -2
    Reader r(buf);
    r.NullableBytes();
    EXPECT_FALSE(r.ok());
  }
  {
    auto buf = B({0xFF, 0xFF, 0xFF, 0xFD});  // records length -3
    Reader r(buf);
    EXPECT_TRUE(r.ReadRecords(false).null);
    EXPECT_FALSE(r.ok());
  }
  {
    auto buf = B({0xFF, 0xFF, 0xFF, 0xFE});  // array length -2
    Reader r(buf);
    r.ArrayLength(false);
    EXPECT_FALSE(r.ok());
  }
}

TEST(WireReaderTest, NullWhereNoneIsAllowedFails) {
  for (auto buf : {B({0xFF, 0xFF}), B({0})}) {
    Reader r(buf);
    if (buf.size() == 2) {
      r.String();
    } else {
      r.CompactString();
    }
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().find("null"), std::string::npos) << r.error();
  }
  auto bytes = B({0xFF, 0xFF, 0xFF, 0xFF, 0});
  Reader r(bytes);
  r.Bytes();
  EXPECT_FALSE(r.ok());
  Reader c(std::span<uint8_t>(bytes).subspan(4));
  c.CompactBytes();
  EXPECT_FALSE(c.ok());
}

TEST(WireReaderTest, LengthsBeyondTheInputFailWithoutAllocating) {
  // Each claims more bytes than exist; the reader must refuse before allocating.
  std::vector<std::vector<uint8_t>> cases = {
      B({0x7F, 0xFF, 'a'}),                    // String: 32767 bytes
      B({0x7F, 0xFF, 0xFF, 0xFF, 'a'}),        // Bytes: 2^31-1 bytes
      B({0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 'a'}),  // CompactString: 2^32-2 bytes
      B({0x7F, 0xFF, 0xFF, 0xFF}),             // Records
  };
  Reader s(cases[0]);
  s.String();
  EXPECT_FALSE(s.ok());
  Reader b(cases[1]);
  b.Bytes();
  EXPECT_FALSE(b.ok());
  Reader c(cases[2]);
  c.CompactString();
  EXPECT_FALSE(c.ok());
  Reader d(cases[3]);
  d.ReadRecords(false);
  EXPECT_FALSE(d.ok());
  Reader e(cases[2]);
  e.ReadRecords(true);
  EXPECT_FALSE(e.ok());
}

TEST(WireReaderTest, HugeArrayCountsFailBeforeAllocating) {
  {
    auto buf = B({0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0});  // 2^31-1 elements, 4 bytes left
    Reader r(buf);
    EXPECT_EQ(r.ArrayLength(false), 0);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().find("cannot fit"), std::string::npos) << r.error();
  }
  {
    auto buf = B({0x80, 0x80, 0x80, 0x80, 0x08, 0});  // compact: 2^31-1 elements
    Reader r(buf);
    EXPECT_EQ(r.ArrayLength(true), 0);
    EXPECT_NE(r.error().find("cannot fit"), std::string::npos) << r.error();
  }
  {
    // Compact: 2^32-2 elements, more than an int32 count can say.
    auto buf = B({0xFF, 0xFF, 0xFF, 0xFF, 0x0F});
    Reader r(buf);
    EXPECT_EQ(r.ArrayLength(true), 0);
    EXPECT_NE(r.error().find("array length 4294967294"), std::string::npos) << r.error();
  }
  {
    // 3 elements of at least 4 bytes need 12 bytes; 11 are left.
    std::vector<uint8_t> buf = B({0, 0, 0, 3});
    buf.resize(4 + 11);
    Reader r(buf);
    r.ArrayLength(false, 4);
    EXPECT_FALSE(r.ok());
    Reader ok(buf);
    EXPECT_EQ(ok.ArrayLength(false, 3), 3);  // 9 bytes suffice
    EXPECT_TRUE(ok.ok());
  }
}

TEST(WireReaderTest, ArrayLengthNullAndEmpty) {
  auto buf = B({0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1});
  Reader r(buf);
  EXPECT_EQ(r.ArrayLength(false), -1);
  EXPECT_EQ(r.ArrayLength(false), 0);
  EXPECT_EQ(r.ArrayLength(true), -1);
  EXPECT_EQ(r.ArrayLength(true), 0);
  EXPECT_TRUE(r.ok());
}

TEST(WireReaderTest, BadVarintsFail) {
  struct Case {
    std::vector<uint8_t> bytes;
    int kind;  // 0 unsigned varint, 1 varint, 2 varlong
  };
  const std::vector<Case> cases = {
      {B({0x80}), 0},                                // truncated
      {B({}), 0},                                    // empty
      {B({0x80, 0x80, 0x80, 0x80, 0x10}), 0},        // beyond 32 bits
      {B({0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), 0},  // longer than 5 bytes
      {B({0xFF, 0xFF}), 1},                          // truncated
      {B({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), 1},  // longer than 5 bytes
      {B({0xFF, 0xFF, 0xFF, 0xFF, 0x1F}), 1},        // beyond 32 bits
      {B({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), 2},  // 11 bytes
      {B({0x80, 0x80, 0x80}), 2},                                                  // truncated
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<uint8_t> buf = cases[i].bytes;
    Reader r(buf);
    if (cases[i].kind == 0) {
      EXPECT_EQ(r.UnsignedVarint(), 0u) << i;
    } else if (cases[i].kind == 1) {
      EXPECT_EQ(r.Varint(), 0) << i;
    } else {
      EXPECT_EQ(r.Varlong(), 0) << i;
    }
    EXPECT_FALSE(r.ok()) << "case " << i;
  }
}

TEST(WireReaderTest, NonMinimalUnsignedVarintIsAccepted) {
  auto buf = B({0x80, 0x00});  // 0 in two bytes, as Java accepts
  Reader r(buf);
  EXPECT_EQ(r.UnsignedVarint(), 0u);
  EXPECT_TRUE(r.ok());
}

TEST(WireReaderTest, SubReaderIsBoundedAndItsFailuresAreItsOwn) {
  auto buf = B({0, 1, 2, 3, 4});
  Reader r(buf);
  Reader sub = r.Sub(2);
  EXPECT_EQ(sub.Int16(), 1);
  EXPECT_EQ(sub.Int8(), 0);  // past its 2 bytes
  EXPECT_FALSE(sub.ok());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 3u);
  Reader too_long = r.Sub(4);
  EXPECT_FALSE(too_long.ok());
  EXPECT_FALSE(r.ok());
}

TEST(WireReaderTest, TakeViewsAndAdvances) {
  auto buf = B({1, 2, 3});
  Reader r(buf);
  auto s = r.Take(2);
  EXPECT_EQ(s.data(), buf.data());
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(r.position(), 2u);
  EXPECT_TRUE(r.Take(2).empty());
  EXPECT_FALSE(r.ok());
}

TEST(WireReaderTest, TruncatedStringBodyFails) {
  auto buf = Concat(B({0, 5}), "abc");
  Reader r(buf);
  r.String();
  EXPECT_FALSE(r.ok());
  auto cbuf = Concat(B({6}), "abc");
  Reader c(cbuf);
  c.CompactString();
  EXPECT_FALSE(c.ok());
}

TEST(WireReaderTest, FailKeepsTheFirstReason) {
  auto buf = B({1});
  Reader r(buf);
  r.Fail("first");
  r.Fail("second");
  EXPECT_EQ(r.error(), "first at byte 0");
}

}  // namespace
}  // namespace sluice::broker::kafka
