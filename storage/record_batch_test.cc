#include "storage/record_batch.h"

#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/errors.h"
#include "storage/varint.h"

namespace sluice::storage {
namespace {

using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Helpers

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  *result_listener << "status: " << StatusOf(arg);
  return StatusOf(arg).ok();
}

// A kCorruptBatch error (canonical code InvalidArgument) whose message contains `substr`.
MATCHER_P(IsCorruptBatch, substr,
          "is a kCorruptBatch error containing \"" + std::string(substr) + "\"") {
  const absl::Status& s = StatusOf(arg);
  *result_listener << "status: " << s;
  return s.code() == absl::StatusCode::kInvalidArgument &&
         StorageErrcOf(s) == StorageErrc::kCorruptBatch &&
         s.message().find(substr) != std::string_view::npos;
}

// An owned record, for building batches and comparing what reads back.
struct TestRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int64_t timestamp = 0;
  bool operator==(const TestRecord&) const = default;
};

std::ostream& operator<<(std::ostream& os, const std::optional<std::string>& s) {
  return s ? os << '"' << *s << '"' : os << "null";
}
std::ostream& operator<<(std::ostream& os, const TestRecord& r) {
  os << "{key=" << r.key << " value=" << r.value << " ts=" << r.timestamp << " headers=[";
  for (const auto& [k, v] : r.headers) os << '"' << k << "\"=" << v << ' ';
  return os << "]}";
}

std::optional<std::string_view> View(const std::optional<std::string>& s) {
  return s ? std::optional<std::string_view>(*s) : std::nullopt;
}
std::optional<std::string> Own(std::optional<std::string_view> s) {
  return s ? std::optional<std::string>(*s) : std::nullopt;
}

void AddRecord(RecordBatchBuilder& b, const TestRecord& r) {
  std::vector<RecordBatchBuilder::Header> headers;
  for (const auto& [k, v] : r.headers) headers.push_back({k, View(v)});
  b.Add(View(r.key), View(r.value), headers, r.timestamp);
}

std::string BuildBatch(const std::vector<TestRecord>& records,
                       RecordBatchBuilder::Options options = {}) {
  RecordBatchBuilder b(options);
  for (const TestRecord& r : records) AddRecord(b, r);
  return b.Build();
}

// Decodes every record of `view`, timestamps made absolute.
absl::StatusOr<std::vector<TestRecord>> ReadRecords(const RecordBatchView& view) {
  std::vector<TestRecord> out;
  absl::Status s = view.ForEachRecord([&](const RecordView& r) {
    TestRecord& t = out.emplace_back();
    t.key = Own(r.key);
    t.value = Own(r.value);
    t.timestamp = view.base_timestamp() + r.timestamp_delta;
    for (const RecordHeaderView& h : r.headers) t.headers.emplace_back(h.key, Own(h.value));
    return true;
  });
  if (!s.ok()) return s;
  return out;
}

std::span<uint8_t> Mutable(std::string& s) {
  return {reinterpret_cast<uint8_t*>(s.data()), s.size()};
}

// Rewrites batchLength and the CRC so that they match the bytes: lets a test damage the
// structure without the CRC or length check catching it first.
void Reseal(std::string& batch) {
  uint8_t* p = Mutable(batch).data();
  StoreBigEndian<int32_t>(p + 8, static_cast<int32_t>(batch.size() - kLogOverhead));
  StoreBigEndian<uint32_t>(p + kCrcOffset, Crc32c(AsBytes(batch).subspan(kAttributesOffset)));
}

// A sealed batch header around an arbitrary records area.
std::string WrapRecords(std::string_view records, int32_t record_count,
                        std::optional<int32_t> last_offset_delta = std::nullopt,
                        int16_t attributes = 0) {
  std::string batch = RecordBatchBuilder().Build();  // Header only.
  batch.append(records);
  uint8_t* p = Mutable(batch).data();
  StoreBigEndian<int16_t>(p + kAttributesOffset, attributes);
  StoreBigEndian<int32_t>(p + 23, last_offset_delta.value_or(record_count - 1));
  StoreBigEndian<int32_t>(p + 57, record_count);
  Reseal(batch);
  return batch;
}

std::string Varint(int32_t v) {
  std::string s;
  AppendVarint(&s, v);
  return s;
}
std::string Varlong(int64_t v) {
  std::string s;
  AppendVarlong(&s, v);
  return s;
}
// A record: varint length of `body`, then `body`.
std::string Record(std::string_view body) {
  return Varint(static_cast<int32_t>(body.size())) + std::string(body);
}
// The fields of a well-formed record: attributes 0, timestampDelta 0, key "k", value "v".
// `tail` replaces the trailing header count (default: no headers).
std::string Body(int32_t offset_delta, std::string tail = Varint(0)) {
  return std::string(1, '\0') + Varlong(0) + Varint(offset_delta) + Varint(1) + "k" + Varint(1) +
         "v" + tail;
}

std::string ReadTestdata(std::string_view name) {
  std::ifstream in(std::string(SLUICE_TESTDATA_DIR) + "/" + std::string(name), std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << name;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------------------------
// Varint and byte order

TEST(VarintTest, EncodesKnownZigZagBytes) {
  const std::pair<int32_t, std::string_view> cases[] = {
      {0, std::string_view("\x00", 1)},
      {-1, "\x01"},
      {1, "\x02"},
      {63, "\x7e"},
      {-64, "\x7f"},
      {64, "\x80\x01"},
      {300, "\xd8\x04"},
      {std::numeric_limits<int32_t>::max(), "\xfe\xff\xff\xff\x0f"},
      {std::numeric_limits<int32_t>::min(), "\xff\xff\xff\xff\x0f"},
  };
  for (const auto& [value, bytes] : cases) {
    EXPECT_EQ(Varint(value), bytes) << value;
    EXPECT_EQ(VarintSize(value), bytes.size()) << value;
    auto d = DecodeVarint(AsBytes(bytes));
    ASSERT_TRUE(d.has_value()) << value;
    EXPECT_EQ(d->value, value);
    EXPECT_EQ(d->size, bytes.size());
  }
}

TEST(VarintTest, VarlongExtremesTakeTenBytes) {
  EXPECT_EQ(Varlong(std::numeric_limits<int64_t>::min()),
            "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
  EXPECT_EQ(Varlong(std::numeric_limits<int64_t>::max()),
            "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01");
  for (int64_t v : {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    auto d = DecodeVarlong(AsBytes(Varlong(v)));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->value, v);
    EXPECT_EQ(d->size, kMaxVarlongBytes);
  }
}

TEST(VarintTest, RoundTripsAroundEveryPowerOfTwo) {
  for (int shift = 0; shift < 63; ++shift) {
    for (int64_t base : {int64_t{1} << shift, -(int64_t{1} << shift)}) {
      for (int64_t v : {base - 1, base, base + 1}) {
        const std::string enc = Varlong(v);
        auto d = DecodeVarlong(AsBytes(enc));
        ASSERT_TRUE(d.has_value()) << v;
        EXPECT_EQ(d->value, v);
        EXPECT_EQ(d->size, enc.size());
        EXPECT_EQ(VarlongSize(v), enc.size());
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
          continue;
        }
        const std::string enc32 = Varint(static_cast<int32_t>(v));
        auto d32 = DecodeVarint(AsBytes(enc32));
        ASSERT_TRUE(d32.has_value()) << v;
        EXPECT_EQ(d32->value, v);
        EXPECT_EQ(enc32, enc) << "varint and varlong encodings agree on int32 values";
      }
    }
  }
}

TEST(VarintTest, TruncatedEncodingIsRejected) {
  EXPECT_FALSE(DecodeVarint({}).has_value());
  EXPECT_FALSE(DecodeVarlong({}).has_value());
  const std::string enc = Varlong(std::numeric_limits<int64_t>::min());
  for (size_t n = 0; n < enc.size(); ++n) {
    EXPECT_FALSE(DecodeVarlong(AsBytes(enc).first(n)).has_value()) << n;
    if (n < kMaxVarintBytes) {
      EXPECT_FALSE(DecodeVarint(AsBytes(enc).first(n)).has_value()) << n;
    }
  }
}

TEST(VarintTest, OverlongEncodingIsRejected) {
  EXPECT_FALSE(DecodeVarint(AsBytes(std::string_view("\x80\x80\x80\x80\x80\x00", 6))).has_value());
  // Fifth byte of a varint may carry 4 bits only; 0x10 would be bit 32.
  EXPECT_FALSE(DecodeVarint(AsBytes("\x80\x80\x80\x80\x10")).has_value());
  EXPECT_TRUE(DecodeVarint(AsBytes("\x80\x80\x80\x80\x0f")).has_value());
  EXPECT_FALSE(DecodeVarlong(AsBytes("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")).has_value());
  // Tenth byte of a varlong may carry 1 bit only.
  EXPECT_FALSE(DecodeVarlong(AsBytes("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02")).has_value());
}

TEST(VarintTest, NonMinimalEncodingIsAcceptedAsJavaDoes) {
  auto d = DecodeVarint(AsBytes(std::string_view("\x80\x00", 2)));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->value, 0);
  EXPECT_EQ(d->size, 2u);
}

TEST(VarintTest, DecodeReadsOnlyTheFirstVarint) {
  auto d = DecodeVarint(AsBytes("\x02\x04"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->value, 1);
  EXPECT_EQ(d->size, 1u);
}

TEST(ByteOrderTest, StoresAndLoadsBigEndianAtUnalignedAddresses) {
  uint8_t buf[9] = {};
  StoreBigEndian<int16_t>(buf + 1, -2);
  EXPECT_EQ(std::string_view(reinterpret_cast<char*>(buf + 1), 2), "\xff\xfe");
  EXPECT_EQ(LoadBigEndian<int16_t>(buf + 1), -2);
  StoreBigEndian<uint32_t>(buf + 1, 0xE3069283u);
  EXPECT_EQ(std::string_view(reinterpret_cast<char*>(buf + 1), 4), "\xe3\x06\x92\x83");
  EXPECT_EQ(LoadBigEndian<uint32_t>(buf + 1), 0xE3069283u);
  EXPECT_EQ(LoadBigEndian<int32_t>(buf + 1), static_cast<int32_t>(0xE3069283u));
  StoreBigEndian<int64_t>(buf + 1, 0x0102030405060708);
  EXPECT_EQ(std::string_view(reinterpret_cast<char*>(buf + 1), 8),
            "\x01\x02\x03\x04\x05\x06\x07\x08");
  EXPECT_EQ(LoadBigEndian<int64_t>(buf + 1), 0x0102030405060708);
  StoreBigEndian<int64_t>(buf + 1, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(LoadBigEndian<int64_t>(buf + 1), std::numeric_limits<int64_t>::min());
}

// ---------------------------------------------------------------------------------------------
// Builder and view

TEST(RecordBatchTest, CompressionNames) {
  EXPECT_EQ(CompressionName(Compression::kNone), "none");
  EXPECT_EQ(CompressionName(Compression::kGzip), "gzip");
  EXPECT_EQ(CompressionName(Compression::kSnappy), "snappy");
  EXPECT_EQ(CompressionName(Compression::kLz4), "lz4");
  EXPECT_EQ(CompressionName(Compression::kZstd), "zstd");
  EXPECT_EQ(CompressionName(static_cast<Compression>(6)), "unknown");
}

TEST(RecordBatchTest, RecordsAreEncodedByteForByteAsKafkaSpecifies) {
  RecordBatchBuilder b;
  const RecordBatchBuilder::Header headers[] = {{"h", "x"}};
  b.Add("k", std::nullopt, headers, 1000);
  b.Add(std::nullopt, "", {}, 999);
  const std::string batch = b.Build();
  // Record 0: length 11 (zigzag 0x16) | attrs 0 | tsDelta 0 | offsetDelta 0 | key len 1 (0x02) "k"
  // |
  //           value null (0x01) | 1 header (0x02) | key len 1 "h" | value len 1 "x"
  // Record 1: length 6 (0x0c) | attrs 0 | tsDelta -1 (0x01) | offsetDelta 1 (0x02) | key null |
  //           value len 0 | 0 headers
  const std::string_view expected(
      "\x16\x00\x00\x00\x02k\x01\x02\x02h\x02x"
      "\x0c\x00\x01\x02\x01\x00\x00",
      19);
  EXPECT_EQ(batch.substr(kBatchHeaderSize), expected);
}

TEST(RecordBatchTest, HeaderFieldsReadBackExactly) {
  RecordBatchBuilder::Options options;
  options.base_offset = Offset(1000);
  options.partition_leader_epoch = 7;
  options.timestamp_type = TimestampType::kLogAppendTime;
  options.producer_id = 42;
  options.producer_epoch = 3;
  options.base_sequence = 17;
  options.transactional = true;
  RecordBatchBuilder b(options);
  b.Add("a", "1", {}, 1700000000500);
  b.Add("b", "2", {}, 1700000000900);
  b.Add("c", "3", {}, 1700000000100);
  const size_t expected_size = b.size_bytes();
  EXPECT_EQ(b.record_count(), 3u);
  const std::string batch = b.Build();
  ASSERT_EQ(batch.size(), expected_size);

  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->size_bytes(), batch.size());
  EXPECT_EQ(view->base_offset(), Offset(1000));
  EXPECT_EQ(view->last_offset(), Offset(1002));
  EXPECT_EQ(view->batch_length(), static_cast<int32_t>(batch.size() - kLogOverhead));
  EXPECT_EQ(view->partition_leader_epoch(), 7);
  EXPECT_EQ(view->magic(), 2);
  EXPECT_EQ(view->attributes(), 0x18);  // Bit 3 log-append time, bit 4 transactional.
  EXPECT_EQ(view->compression(), Compression::kNone);
  EXPECT_EQ(view->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_TRUE(view->is_transactional());
  EXPECT_FALSE(view->is_control());
  EXPECT_FALSE(view->has_delete_horizon());
  EXPECT_EQ(view->last_offset_delta(), 2);
  EXPECT_EQ(view->base_timestamp(), 1700000000500);
  EXPECT_EQ(view->max_timestamp(), 1700000000900);
  EXPECT_EQ(view->producer_id(), 42);
  EXPECT_EQ(view->producer_epoch(), 3);
  EXPECT_EQ(view->base_sequence(), 17);
  EXPECT_EQ(view->record_count(), 3);
  EXPECT_EQ(view->crc(), Crc32c(AsBytes(batch).subspan(kAttributesOffset)));
  EXPECT_EQ(view->records_bytes().size(), batch.size() - kBatchHeaderSize);
  EXPECT_THAT(view->VerifyCrc(), IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsOk());
}

TEST(RecordBatchTest, DefaultOptionsWriteKafkaNoneValues) {
  const std::string batch = BuildBatch({{"k", "v", {}, 5}});
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->base_offset(), Offset(0));
  EXPECT_EQ(view->partition_leader_epoch(), -1);
  EXPECT_EQ(view->attributes(), 0);
  EXPECT_EQ(view->timestamp_type(), TimestampType::kCreateTime);
  EXPECT_FALSE(view->is_transactional());
  EXPECT_EQ(view->producer_id(), -1);
  EXPECT_EQ(view->producer_epoch(), -1);
  EXPECT_EQ(view->base_sequence(), -1);
  EXPECT_EQ(view->base_timestamp(), 5);
  EXPECT_EQ(view->max_timestamp(), 5);
}

TEST(RecordBatchTest, KeysValuesHeadersAndNullsRoundTrip) {
  const std::vector<TestRecord> records = {
      {"key-0", "value-0", {}, 1700000000000},
      {std::nullopt, "value with null key", {{"trace", "abc"}}, 1700000000001},
      {"tombstone", std::nullopt, {{"h-null", std::nullopt}, {"h2", ""}}, 1699999999000},
      {"", "", {{"", "empty key"}}, 1700000005000},
      {std::nullopt, std::nullopt, {}, std::numeric_limits<int64_t>::max()},
      {std::string("bin\0ary", 7), std::string("\0\xff\x80", 3), {{"x", std::string(1, '\0')}}, 0},
  };
  const std::string batch = BuildBatch(records);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsOk());
  EXPECT_EQ(view->base_timestamp(), 1700000000000);
  EXPECT_EQ(view->max_timestamp(), std::numeric_limits<int64_t>::max());
  auto read = ReadRecords(*view);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(*read, records);
}

TEST(RecordBatchTest, OffsetDeltasCountFromZeroAndRecordAttributesAreZero) {
  const std::string batch = BuildBatch({{"a", "1", {}, 10}, {"b", "2", {}, 5}, {"c", "3", {}, 20}});
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  std::vector<int32_t> deltas;
  std::vector<int64_t> ts_deltas;
  ASSERT_THAT(view->ForEachRecord([&](const RecordView& r) {
    EXPECT_EQ(r.attributes, 0);
    deltas.push_back(r.offset_delta);
    ts_deltas.push_back(r.timestamp_delta);
    return true;
  }),
              IsOk());
  EXPECT_EQ(deltas, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(ts_deltas, (std::vector<int64_t>{0, -5, 10}));
}

TEST(RecordBatchTest, ManyRecordsRoundTrip) {
  std::vector<TestRecord> records;
  for (int i = 0; i < 10000; ++i) {
    records.push_back({"key-" + std::to_string(i), std::string(i % 200, 'v'), {}, 1000 + i});
  }
  const std::string batch = BuildBatch(records);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->record_count(), 10000);
  EXPECT_EQ(view->last_offset_delta(), 9999);
  EXPECT_EQ(view->max_timestamp(), 1000 + 9999);
  EXPECT_THAT(view->ValidateForAppend(), IsOk());
  auto read = ReadRecords(*view);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(*read, records);
}

TEST(RecordBatchTest, LargeValueUsesMultiByteLengths) {
  const std::vector<TestRecord> records = {{std::string(300, 'k'),
                                            std::string(1 << 20, 'x'),
                                            {{std::string(200, 'h'), std::string(70000, 'y')}},
                                            1}};
  const std::string batch = BuildBatch(records);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsOk());
  auto read = ReadRecords(*view);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(*read, records);
}

TEST(RecordBatchTest, BuildResetsTheBuilder) {
  RecordBatchBuilder b;
  b.Add("first", "1", {}, 100);
  b.Add("second", "2", {}, 900);
  b.Build();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.record_count(), 0u);
  EXPECT_EQ(b.size_bytes(), kBatchHeaderSize);

  b.Add("third", "3", {}, 50);
  const std::string batch = b.Build();
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->record_count(), 1);
  EXPECT_EQ(view->base_timestamp(), 50);
  EXPECT_EQ(view->max_timestamp(), 50);
  auto read = ReadRecords(*view);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(*read, (std::vector<TestRecord>{{"third", "3", {}, 50}}));
}

TEST(RecordBatchTest, EmptyBuilderBuildsHeaderOnlyBatchThatAppendRejects) {
  const std::string batch = RecordBatchBuilder().Build();
  ASSERT_EQ(batch.size(), kBatchHeaderSize);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->record_count(), 0);
  EXPECT_EQ(view->last_offset_delta(), -1);
  EXPECT_EQ(view->base_timestamp(), -1);
  EXPECT_EQ(view->max_timestamp(), -1);
  EXPECT_THAT(view->VerifyCrc(), IsOk());
  int calls = 0;
  EXPECT_THAT(view->ForEachRecord([&](const RecordView&) { return ++calls, true; }), IsOk());
  EXPECT_EQ(calls, 0);
  EXPECT_THAT(view->ValidateForAppend(), IsCorruptBatch("no records (recordCount 0)"));
}

TEST(RecordBatchTest, SetBaseOffsetAndLeaderEpochKeepCrcValid) {
  std::string batch = BuildBatch({{"a", "1", {}, 1}, {"b", "2", {}, 2}});
  SetBaseOffset(Mutable(batch), Offset(123456789012));
  SetPartitionLeaderEpoch(Mutable(batch), 99);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->base_offset(), Offset(123456789012));
  EXPECT_EQ(view->last_offset(), Offset(123456789013));
  EXPECT_EQ(view->partition_leader_epoch(), 99);
  EXPECT_THAT(view->VerifyCrc(), IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsOk());
}

TEST(RecordBatchTest, FlippingAnyByteUnderTheCrcFailsVerification) {
  const std::string good =
      BuildBatch({{"key", "value", {{"h", "v"}}, 1}, {std::nullopt, "x", {}, 2}});
  for (size_t i = kAttributesOffset; i < good.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      auto view = RecordBatchView::Parse(AsBytes(bad));
      if (!view.ok()) {  // Only a negative recordCount is caught this early.
        EXPECT_THAT(view, IsCorruptBatch("negative recordCount")) << i;
        continue;
      }
      EXPECT_THAT(view->VerifyCrc(), IsCorruptBatch("CRC32C mismatch")) << "byte " << i;
      EXPECT_THAT(view->ValidateForAppend(), IsCorruptBatch("CRC32C mismatch")) << "byte " << i;
    }
  }
}

TEST(RecordBatchTest, FlippingCrcFieldFailsButFieldsOutsideCrcDoNot) {
  const std::string good = BuildBatch({{"key", "value", {}, 1}});
  for (size_t i = kCrcOffset; i < kAttributesOffset; ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto view = RecordBatchView::Parse(AsBytes(bad));
    ASSERT_THAT(view, IsOk());
    EXPECT_THAT(view->VerifyCrc(), IsCorruptBatch("CRC32C mismatch")) << i;
  }
  // baseOffset [0, 8) and partitionLeaderEpoch [12, 16) are outside the CRC by design.
  for (size_t i : {0, 3, 7, 12, 15}) {
    std::string changed = good;
    changed[i] = static_cast<char>(changed[i] ^ 0x5a);
    auto view = RecordBatchView::Parse(AsBytes(changed));
    ASSERT_THAT(view, IsOk());
    EXPECT_THAT(view->VerifyCrc(), IsOk()) << i;
  }
}

TEST(RecordBatchTest, RandomizedRoundTrips) {
  std::mt19937_64 rng(0x5eed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto bytes = [&](size_t max_len) {
    std::string s(static_cast<size_t>(uniform(0, static_cast<int64_t>(max_len))), '\0');
    for (char& c : s) c = static_cast<char>(uniform(0, 255));
    return s;
  };
  auto maybe_null = [&](size_t max_len) -> std::optional<std::string> {
    if (uniform(0, 9) == 0) return std::nullopt;
    return bytes(uniform(0, 19) == 0 ? 20000 : max_len);
  };
  for (int iter = 0; iter < 200; ++iter) {
    SCOPED_TRACE(iter);
    RecordBatchBuilder::Options options;
    options.base_offset = Offset(uniform(0, int64_t{1} << 40));
    options.partition_leader_epoch = static_cast<int32_t>(uniform(-1, 1000));
    options.producer_id = uniform(-1, std::numeric_limits<int64_t>::max());
    options.producer_epoch = static_cast<int16_t>(uniform(-1, 32767));
    options.base_sequence = static_cast<int32_t>(uniform(-1, std::numeric_limits<int32_t>::max()));
    options.transactional = uniform(0, 1);
    options.timestamp_type =
        uniform(0, 1) ? TimestampType::kLogAppendTime : TimestampType::kCreateTime;

    std::vector<TestRecord> records(static_cast<size_t>(uniform(1, 100)));
    const int64_t base_ts = uniform(0, int64_t{1} << 42);
    int64_t max_ts = std::numeric_limits<int64_t>::min();
    for (TestRecord& r : records) {
      r.key = maybe_null(40);
      r.value = maybe_null(300);
      for (int h = uniform(0, 4); h > 0; --h) r.headers.emplace_back(bytes(12), maybe_null(30));
      r.timestamp = base_ts + uniform(-100000, 100000);
      max_ts = std::max(max_ts, r.timestamp);
    }
    const std::string batch = BuildBatch(records, options);

    auto view = RecordBatchView::Parse(AsBytes(batch));
    ASSERT_THAT(view, IsOk());
    ASSERT_THAT(view->ValidateForAppend(), IsOk());
    EXPECT_EQ(view->base_offset(), options.base_offset);
    EXPECT_EQ(view->partition_leader_epoch(), options.partition_leader_epoch);
    EXPECT_EQ(view->producer_id(), options.producer_id);
    EXPECT_EQ(view->producer_epoch(), options.producer_epoch);
    EXPECT_EQ(view->base_sequence(), options.base_sequence);
    EXPECT_EQ(view->is_transactional(), options.transactional);
    EXPECT_EQ(view->timestamp_type(), options.timestamp_type);
    EXPECT_EQ(view->record_count(), static_cast<int32_t>(records.size()));
    EXPECT_EQ(view->last_offset_delta(), static_cast<int32_t>(records.size()) - 1);
    EXPECT_EQ(view->base_timestamp(), records[0].timestamp);
    EXPECT_EQ(view->max_timestamp(), max_ts);
    auto read = ReadRecords(*view);
    ASSERT_THAT(read, IsOk());
    EXPECT_EQ(*read, records);
  }
}

// ---------------------------------------------------------------------------------------------
// Structure checks of Parse and PeekBatchSize

TEST(RecordBatchParseTest, EveryTruncationFailsParse) {
  const std::string batch =
      BuildBatch({{"key", "value", {{"h", "v"}}, 1}, {"k2", std::nullopt, {}, 2}});
  for (size_t n = 0; n < batch.size(); ++n) {
    auto view = RecordBatchView::Parse(AsBytes(batch).first(n));
    EXPECT_THAT(view,
                IsCorruptBatch(n < kBatchHeaderSize ? "shorter than the 61-byte header" : "needs"))
        << n;
  }
}

TEST(RecordBatchParseTest, ViewCoversExactlyOneBatch) {
  const std::string first = BuildBatch({{"a", "1", {}, 1}});
  const std::string second = BuildBatch({{"bb", "22", {}, 2}, {"c", "3", {}, 3}});
  const std::string both = first + second;
  auto view = RecordBatchView::Parse(AsBytes(both));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->size_bytes(), first.size());
  EXPECT_EQ(view->bytes().data(), AsBytes(both).data());
  EXPECT_THAT(view->ValidateForAppend(), IsOk());
  EXPECT_EQ(*PeekBatchSize(AsBytes(both)), first.size());

  auto next = RecordBatchView::Parse(AsBytes(both).subspan(first.size()));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->size_bytes(), second.size());
  EXPECT_EQ(next->record_count(), 2);
}

TEST(RecordBatchParseTest, PeekBatchSizeNeedsTwelveBytes) {
  const std::string batch = BuildBatch({{"a", "1", {}, 1}});
  EXPECT_THAT(PeekBatchSize(AsBytes(batch).first(11)), IsCorruptBatch("need 12 bytes"));
  auto size = PeekBatchSize(AsBytes(batch).first(12));
  ASSERT_THAT(size, IsOk());
  EXPECT_EQ(*size, batch.size());
}

TEST(RecordBatchParseTest, ImplausibleBatchLengthIsRejected) {
  std::string batch = BuildBatch({{"a", "1", {}, 1}});
  for (int32_t length : {-1, std::numeric_limits<int32_t>::min(), 0, 48,
                         static_cast<int32_t>(kMaxBatchBytes - kLogOverhead + 1),
                         std::numeric_limits<int32_t>::max()}) {
    StoreBigEndian<int32_t>(Mutable(batch).data() + 8, length);
    EXPECT_THAT(PeekBatchSize(AsBytes(batch)),
                IsCorruptBatch("batchLength " + std::to_string(length)));
    EXPECT_THAT(RecordBatchView::Parse(AsBytes(batch)), IsCorruptBatch("outside [61, 1073741824]"));
  }
  // Plausible lengths that the bytes do not cover.
  for (int32_t length : {static_cast<int32_t>(batch.size() - kLogOverhead + 1),
                         static_cast<int32_t>(kMaxBatchBytes - kLogOverhead)}) {
    StoreBigEndian<int32_t>(Mutable(batch).data() + 8, length);
    EXPECT_THAT(PeekBatchSize(AsBytes(batch)), IsOk());
    EXPECT_THAT(RecordBatchView::Parse(AsBytes(batch)),
                IsCorruptBatch("batchLength " + std::to_string(length) + " needs"));
  }
}

TEST(RecordBatchParseTest, HeaderOnlyBatchLengthIsTheMinimum) {
  std::string batch = WrapRecords("", 0);
  EXPECT_EQ(*PeekBatchSize(AsBytes(batch)), kBatchHeaderSize);
  EXPECT_THAT(RecordBatchView::Parse(AsBytes(batch)), IsOk());
}

TEST(RecordBatchParseTest, WrongMagicIsRejected) {
  for (int8_t magic : {0, 1, 3, -1}) {
    std::string batch = BuildBatch({{"a", "1", {}, 1}});
    batch[16] = static_cast<char>(magic);
    EXPECT_THAT(RecordBatchView::Parse(AsBytes(batch)),
                IsCorruptBatch("magic " + std::to_string(magic) + ", expected 2"));
  }
}

TEST(RecordBatchParseTest, NegativeRecordCountIsRejected) {
  std::string batch = WrapRecords(Record(Body(0)), -1);
  EXPECT_THAT(RecordBatchView::Parse(AsBytes(batch)), IsCorruptBatch("negative recordCount -1"));
}

// ---------------------------------------------------------------------------------------------
// Record decoding and append validation against hostile input

// Parses `batch` (which must be structurally fine, CRC included) and returns ForEachRecord's
// status after checking that ValidateForAppend fails the same way.
absl::Status DecodeAll(const std::string& batch) {
  auto view = RecordBatchView::Parse(AsBytes(batch));
  EXPECT_THAT(view, IsOk());
  if (!view.ok()) return view.status();
  EXPECT_THAT(view->VerifyCrc(), IsOk());
  absl::Status s = view->ForEachRecord([](const RecordView&) { return true; });
  EXPECT_EQ(view->ValidateForAppend(), s);
  return s;
}

TEST(HostileRecordsTest, WellFormedHandWrittenRecordsDecode) {
  EXPECT_THAT(DecodeAll(WrapRecords(Record(Body(0)) + Record(Body(1)), 2)), IsOk());
}

TEST(HostileRecordsTest, RecordLengthPastTheEndIsRejected) {
  const std::string area = Varint(100) + Body(0);
  EXPECT_THAT(
      DecodeAll(WrapRecords(area, 1)),
      IsCorruptBatch("record 0 at byte 0 of the records area: length 100 but 8 bytes left"));
}

TEST(HostileRecordsTest, NegativeRecordLengthIsRejected) {
  EXPECT_THAT(DecodeAll(WrapRecords(Varint(-5) + Body(0), 1)), IsCorruptBatch("length -5 but"));
  EXPECT_THAT(DecodeAll(WrapRecords(Varint(-1) + Body(0), 1)), IsCorruptBatch("length -1 but"));
}

TEST(HostileRecordsTest, TruncatedOrOverlongRecordLengthVarintIsRejected) {
  EXPECT_THAT(DecodeAll(WrapRecords("\x80", 1)),
              IsCorruptBatch("truncated or overlong length varint"));
  EXPECT_THAT(DecodeAll(WrapRecords("\x80\x80\x80\x80\x80\x80\x01", 1)),
              IsCorruptBatch("truncated or overlong length varint"));
}

TEST(HostileRecordsTest, ErrorNamesTheRecordAndItsPosition) {
  const std::string first = Record(Body(0));
  const std::string area = first + Varint(50) + "xx";
  EXPECT_THAT(DecodeAll(WrapRecords(area, 2)),
              IsCorruptBatch("record 1 at byte " + std::to_string(first.size()) +
                             " of the records area: length 50 but 2 bytes left"));
}

TEST(HostileRecordsTest, EmptyRecordBodyIsRejected) {
  EXPECT_THAT(DecodeAll(WrapRecords(Record(""), 1)), IsCorruptBatch("no attributes byte"));
}

TEST(HostileRecordsTest, TruncatedTimestampDeltaIsRejected) {
  EXPECT_THAT(DecodeAll(WrapRecords(Record(std::string(1, '\0') + "\xff\xff"), 1)),
              IsCorruptBatch("truncated or overlong timestampDelta varlong"));
}

TEST(HostileRecordsTest, RecordShorterThanItsFieldsIsRejected) {
  // The length prefix covers attributes, timestampDelta and offsetDelta only.
  const std::string body = Body(0);
  const std::string area = Varint(3) + body;
  EXPECT_THAT(DecodeAll(WrapRecords(area, 1)),
              IsCorruptBatch("truncated or overlong key length varint at byte 3 of the record"));
}

TEST(HostileRecordsTest, RecordLongerThanItsFieldsIsRejected) {
  EXPECT_THAT(DecodeAll(WrapRecords(Record(Body(0) + "!"), 1)),
              IsCorruptBatch("1 bytes follow the last header of a 9-byte record"));
}

TEST(HostileRecordsTest, KeyLengthPastTheEndOfTheRecordIsRejected) {
  const std::string body = std::string(1, '\0') + Varlong(0) + Varint(0) + Varint(50) + "kk";
  EXPECT_THAT(DecodeAll(WrapRecords(Record(body), 1)),
              IsCorruptBatch(
                  "key length 50 at byte 3 of the record exceeds the 2 bytes left in the record"));
}

TEST(HostileRecordsTest, NegativeLengthsOtherThanMinusOneAreRejected) {
  const std::string prefix = std::string(1, '\0') + Varlong(0) + Varint(0);
  EXPECT_THAT(DecodeAll(WrapRecords(Record(prefix + Varint(-2) + Varint(-1) + Varint(0)), 1)),
              IsCorruptBatch("invalid key length -2"));
  EXPECT_THAT(DecodeAll(WrapRecords(Record(prefix + Varint(-1) + Varint(-7) + Varint(0)), 1)),
              IsCorruptBatch("invalid value length -7"));
  EXPECT_THAT(DecodeAll(WrapRecords(Record(prefix + Varint(std::numeric_limits<int32_t>::min()) +
                                           Varint(-1) + Varint(0)),
                                    1)),
              IsCorruptBatch("invalid key length -2147483648"));
}

TEST(HostileRecordsTest, ValueLengthPastTheEndIsRejected) {
  const std::string body = std::string(1, '\0') + Varlong(0) + Varint(0) + Varint(-1) +
                           Varint(std::numeric_limits<int32_t>::max()) + "v";
  EXPECT_THAT(
      DecodeAll(WrapRecords(Record(body), 1)),
      IsCorruptBatch("value length 2147483647 at byte 4 of the record exceeds the 1 bytes left"));
}

TEST(HostileRecordsTest, NegativeHeaderCountIsRejected) {
  EXPECT_THAT(
      DecodeAll(WrapRecords(Record(Body(0, Varint(-1))), 1)),
      IsCorruptBatch("header count -1 at byte 7 of the record cannot fit in the 0 bytes left"));
}

TEST(HostileRecordsTest, TooManyHeadersForTheRecordAreRejected) {
  // Two real headers but a count of 3: the bound (2 bytes a header) passes, decoding runs out.
  const std::string two = Varint(1) + "a" + Varint(-1) + Varint(1) + "b" + Varint(0);
  EXPECT_THAT(DecodeAll(WrapRecords(Record(Body(0, Varint(3) + two)), 1)),
              IsCorruptBatch("header 2: truncated or overlong header key length varint"));
  // A count that cannot fit is rejected before any header is read.
  EXPECT_THAT(DecodeAll(WrapRecords(Record(Body(0, Varint(1000000) + two)), 1)),
              IsCorruptBatch(
                  "header count 1000000 at byte 7 of the record cannot fit in the 6 bytes left"));
  EXPECT_THAT(
      DecodeAll(WrapRecords(Record(Body(0, Varint(std::numeric_limits<int32_t>::max()))), 1)),
      IsCorruptBatch("header count 2147483647"));
}

TEST(HostileRecordsTest, NullHeaderKeyIsRejected) {
  const std::string header = Varint(-1) + Varint(1) + "v";
  EXPECT_THAT(DecodeAll(WrapRecords(Record(Body(0, Varint(1) + header)), 1)),
              IsCorruptBatch("header 0: invalid header key length -1"));
}

TEST(HostileRecordsTest, HeaderValuePastTheEndIsRejected) {
  const std::string header = Varint(1) + "k" + Varint(10) + "v";
  EXPECT_THAT(
      DecodeAll(WrapRecords(Record(Body(0, Varint(1) + header)), 1)),
      IsCorruptBatch(
          "header 0: header value length 10 at byte 10 of the record exceeds the 1 bytes left"));
}

TEST(HostileRecordsTest, FewerRecordsThanDeclaredAreRejected) {
  const std::string area = Record(Body(0)) + Record(Body(1));
  EXPECT_THAT(DecodeAll(WrapRecords(area, 3)),
              IsCorruptBatch("recordCount is 3 but the 18-byte records area holds only 2 records"));
  EXPECT_THAT(DecodeAll(WrapRecords(area, std::numeric_limits<int32_t>::max())),
              IsCorruptBatch("holds only 2 records"));
}

TEST(HostileRecordsTest, MoreRecordsThanDeclaredAreRejected) {
  const std::string area = Record(Body(0)) + Record(Body(1));
  EXPECT_THAT(
      DecodeAll(WrapRecords(area, 1)),
      IsCorruptBatch("recordCount is 1 but 9 bytes of the records area follow the last record"));
}

TEST(HostileRecordsTest, EveryTruncationWithResealedHeaderFailsDecoding) {
  const std::string good = BuildBatch(
      {{"key", "value", {{"h", "v"}, {"n", std::nullopt}}, 1}, {std::nullopt, "x", {}, 2}});
  for (size_t n = kBatchHeaderSize; n < good.size(); ++n) {
    std::string cut = good.substr(0, n);
    Reseal(cut);
    EXPECT_THAT(DecodeAll(cut), IsCorruptBatch("record")) << n;
  }
}

TEST(HostileRecordsTest, RandomRecordsAreasNeverCrash) {
  // Run under ASan/UBSan to make this meaningful: any outcome but OK or kCorruptBatch, or any
  // out-of-bounds read, fails.
  std::mt19937 rng(7);
  const std::string good =
      BuildBatch({{"key", "value", {{"h", "v"}}, 1}, {std::nullopt, "xyz", {}, -5}});
  const std::string good_area = good.substr(kBatchHeaderSize);
  int ok = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string area;
    if (iter % 2 == 0) {
      // Mutate a few bytes of a valid records area.
      area = good_area;
      for (int m = rng() % 3 + 1; m > 0; --m) area[rng() % area.size()] = static_cast<char>(rng());
    } else {
      // Random bytes, small values likelier so lengths sometimes line up.
      area.resize(rng() % 40);
      for (char& c : area) c = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 8);
    }
    const std::string batch = WrapRecords(area, static_cast<int32_t>(rng() % 4));
    auto view = RecordBatchView::Parse(AsBytes(batch));
    ASSERT_THAT(view, IsOk());
    for (const absl::Status& s :
         {view->ForEachRecord([](const RecordView&) { return true; }), view->ValidateForAppend()}) {
      if (s.ok()) {
        ++ok;
      } else {
        ASSERT_THAT(s, IsCorruptBatch("")) << iter;
      }
    }
  }
  EXPECT_GT(ok, 0);  // Some mutations leave a valid batch (e.g. a changed key byte).
}

TEST(AppendValidationTest, LastOffsetDeltaMustMatchRecordCount) {
  const std::string area = Record(Body(0)) + Record(Body(1));
  const std::string batch = WrapRecords(area, 2, /*last_offset_delta=*/5);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_THAT(view->ForEachRecord([](const RecordView&) { return true; }), IsOk());
  EXPECT_THAT(view->ValidateForAppend(),
              IsCorruptBatch("lastOffsetDelta 5 does not match recordCount 2 (expected 1)"));
  const std::string max_delta = WrapRecords(area, 2, std::numeric_limits<int32_t>::max());
  view = RecordBatchView::Parse(AsBytes(max_delta));
  ASSERT_THAT(view, IsOk());
  EXPECT_THAT(view->ValidateForAppend(),
              IsCorruptBatch("lastOffsetDelta 2147483647 does not match"));
}

TEST(AppendValidationTest, OffsetDeltaGapIsReadableButNotAppendable) {
  // Compaction leaves gaps like this in the log; a producer never sends them.
  const std::string batch = WrapRecords(Record(Body(0)) + Record(Body(2)), 2);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_THAT(view->ForEachRecord([](const RecordView&) { return true; }), IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsCorruptBatch("record 1 has offsetDelta 2"));
}

TEST(AppendValidationTest, CrcIsCheckedFirst) {
  std::string batch = WrapRecords(Record(Body(0)), 1);
  batch[kCrcOffset] = static_cast<char>(batch[kCrcOffset] ^ 1);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsCorruptBatch("CRC32C mismatch: stored 0x"));
}

TEST(AppendValidationTest, CompressedBatchChecksHeaderButCannotListRecords) {
  const std::string batch = WrapRecords("opaque compressed bytes", 3, std::nullopt, /*gzip=*/1);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->compression(), Compression::kGzip);
  EXPECT_THAT(view->ValidateForAppend(), IsOk());
  absl::Status s = view->ForEachRecord([](const RecordView&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_THAT(s.message(), HasSubstr("gzip"));
}

TEST(AppendValidationTest, UnknownCompressionCodecIsCorrupt) {
  const std::string batch = WrapRecords(Record(Body(0)), 1, std::nullopt, /*codec=*/5);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsCorruptBatch("unknown compression codec 5"));
  EXPECT_THAT(view->ForEachRecord([](const RecordView&) { return true; }),
              IsCorruptBatch("unknown compression codec 5"));
}

TEST(RecordBatchTest, ForEachRecordStopsWhenCallbackReturnsFalse) {
  const std::string batch = BuildBatch({{"a", "1", {}, 1}, {"b", "2", {}, 2}, {"c", "3", {}, 3}});
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  std::vector<std::string> keys;
  EXPECT_THAT(view->ForEachRecord([&](const RecordView& r) {
    keys.emplace_back(*r.key);
    return keys.size() < 2;
  }),
              IsOk());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
}

// ---------------------------------------------------------------------------------------------
// Compatibility with a real Kafka client

// The records tests/testdata/make_kafka_python_batch.py gives kafka-python's builder (RECORDS
// there; keep the two in step). Offsets 0..3, no producer id, no compression.
std::vector<TestRecord> KafkaPythonRecords() {
  return {
      {"key-0", "value-0", {{"trace-id", "abc123"}}, 1700000000000},
      {std::nullopt, "value with a null key", {}, 1700000000250},
      {"key-2",
       std::nullopt,
       {{"h1", "v1"}, {"h-null", std::nullopt}, {"cl\xc3\xa9", ""}},
       1699999999990},
      {"", "", {}, 1700000000100},
  };
}

TEST(KafkaPythonCompatTest, ParsesAndValidatesBatchWrittenByKafkaPython) {
  const std::string batch = ReadTestdata("kafka_python_batch.bin");
  ASSERT_EQ(batch.size(), 165u);
  auto view = RecordBatchView::Parse(AsBytes(batch));
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->size_bytes(), 165u);
  EXPECT_EQ(view->crc(), 0xc9aaef98u);  // As kafka-python computed it.
  EXPECT_THAT(view->VerifyCrc(), IsOk());
  EXPECT_THAT(view->ValidateForAppend(), IsOk());

  EXPECT_EQ(view->base_offset(), Offset(0));
  EXPECT_EQ(view->batch_length(), 153);
  // kafka-python writes 0 here; the Java client writes -1 (NO_PARTITION_LEADER_EPOCH). The broker
  // overwrites it either way.
  EXPECT_EQ(view->partition_leader_epoch(), 0);
  EXPECT_EQ(view->magic(), 2);
  EXPECT_EQ(view->attributes(), 0);
  EXPECT_EQ(view->last_offset_delta(), 3);
  EXPECT_EQ(view->base_timestamp(), 1700000000000);
  EXPECT_EQ(view->max_timestamp(), 1700000000250);
  EXPECT_EQ(view->producer_id(), -1);
  EXPECT_EQ(view->producer_epoch(), -1);
  EXPECT_EQ(view->base_sequence(), -1);
  EXPECT_EQ(view->record_count(), 4);

  std::vector<int32_t> offset_deltas;
  std::vector<int64_t> timestamp_deltas;
  ASSERT_THAT(view->ForEachRecord([&](const RecordView& r) {
    EXPECT_EQ(r.attributes, 0);
    offset_deltas.push_back(r.offset_delta);
    timestamp_deltas.push_back(r.timestamp_delta);
    return true;
  }),
              IsOk());
  EXPECT_EQ(offset_deltas, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(timestamp_deltas, (std::vector<int64_t>{0, 250, -10, 100}));
  auto read = ReadRecords(*view);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(*read, KafkaPythonRecords());
}

TEST(KafkaPythonCompatTest, BuilderReproducesKafkaPythonBytesExactly) {
  // Same inputs; only the partition leader epoch needs kafka-python's 0 instead of our -1.
  RecordBatchBuilder::Options options;
  options.partition_leader_epoch = 0;
  const std::string ours = BuildBatch(KafkaPythonRecords(), options);
  const std::string theirs = ReadTestdata("kafka_python_batch.bin");
  EXPECT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < std::min(ours.size(), theirs.size()); ++i) {
    ASSERT_EQ(static_cast<uint8_t>(ours[i]), static_cast<uint8_t>(theirs[i]))
        << "first difference at byte " << i;
  }
}

}  // namespace
}  // namespace sluice::storage
