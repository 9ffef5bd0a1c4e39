#include "storage/record_batch.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "absl/strings/str_cat.h"
#include "storage/byte_order.h"
#include "storage/crc32c.h"
#include "storage/errors.h"
#include "storage/status_macros.h"
#include "storage/varint.h"

namespace sluice::storage {
namespace {

// Offsets of the header fields not already named in record_batch.h; see the layout there.
constexpr size_t kBaseOffsetOffset = 0;
constexpr size_t kBatchLengthOffset = 8;
constexpr size_t kPartitionLeaderEpochOffset = 12;
constexpr size_t kMagicOffset = 16;
constexpr size_t kLastOffsetDeltaOffset = 23;
constexpr size_t kBaseTimestampOffset = 27;
constexpr size_t kMaxTimestampOffset = 35;
constexpr size_t kProducerIdOffset = 43;
constexpr size_t kProducerEpochOffset = 51;
constexpr size_t kBaseSequenceOffset = 53;
constexpr size_t kRecordCountOffset = 57;
static_assert(kRecordCountOffset + 4 == kBatchHeaderSize);
static_assert(kMaxBatchBytes <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));

constexpr int16_t kCompressionMask = 0x07;
constexpr int16_t kTimestampTypeBit = 1 << 3;
constexpr int16_t kTransactionalBit = 1 << 4;
constexpr int16_t kControlBit = 1 << 5;
constexpr int16_t kDeleteHorizonBit = 1 << 6;
constexpr int16_t kMaxCompressionCodec = static_cast<int16_t>(Compression::kZstd);

// This Abseil's absl::string_view is not std::string_view; StrCat takes only the former.
template <typename T>
const T& StrCatArg(const T& v) {
  return v;
}
inline absl::string_view StrCatArg(std::string_view v) { return {v.data(), v.size()}; }

template <typename... Args>
absl::Status Corrupt(const Args&... args) {
  return StorageError(StorageErrc::kCorruptBatch, absl::StrCat(StrCatArg(args)...));
}

// A read position in a byte range. Reads never go past the end; the decoder checks left() (or
// the optional) before using what it reads.
class Cursor {
 public:
  explicit Cursor(Bytes bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t left() const { return bytes_.size() - pos_; }

  std::optional<int32_t> Varint() {
    auto d = DecodeVarint(bytes_.subspan(pos_));
    if (!d) return std::nullopt;
    pos_ += d->size;
    return d->value;
  }
  std::optional<int64_t> Varlong() {
    auto d = DecodeVarlong(bytes_.subspan(pos_));
    if (!d) return std::nullopt;
    pos_ += d->size;
    return d->value;
  }
  std::optional<int8_t> Int8() {
    if (left() < 1) return std::nullopt;
    return static_cast<int8_t>(bytes_[pos_++]);
  }
  // Requires n <= left().
  Bytes Take(size_t n) {
    assert(n <= left());
    Bytes b = bytes_.subspan(pos_, n);
    pos_ += n;
    return b;
  }

 private:
  Bytes bytes_;
  size_t pos_ = 0;
};

// Reads a varint length and that many bytes. Length -1 is null (nullopt) when `nullable`; any
// other negative length, or one past the end of the record, is an error naming `what`.
absl::Status ReadLengthPrefixed(Cursor& rec, std::string_view what, bool nullable,
                                std::optional<std::string_view>* out) {
  const size_t at = rec.pos();
  auto length = rec.Varint();
  if (!length)
    return Corrupt("truncated or overlong ", what, " length varint at byte ", at, " of the record");
  if (*length == -1 && nullable) {
    *out = std::nullopt;
    return absl::OkStatus();
  }
  if (*length < 0)
    return Corrupt("invalid ", what, " length ", *length, " at byte ", at, " of the record");
  if (static_cast<size_t>(*length) > rec.left()) {
    return Corrupt(what, " length ", *length, " at byte ", at, " of the record exceeds the ",
                   rec.left(), " bytes left in the record");
  }
  *out = AsStringView(rec.Take(static_cast<size_t>(*length)));
  return absl::OkStatus();
}

// Decodes the fields of one record (the bytes its length prefix covers) into *out.
absl::Status DecodeRecordBody(Bytes body, RecordView* out) {
  Cursor rec(body);
  auto attributes = rec.Int8();
  if (!attributes) return Corrupt("no attributes byte");
  out->attributes = *attributes;
  auto timestamp_delta = rec.Varlong();
  if (!timestamp_delta) return Corrupt("truncated or overlong timestampDelta varlong");
  out->timestamp_delta = *timestamp_delta;
  auto offset_delta = rec.Varint();
  if (!offset_delta) return Corrupt("truncated or overlong offsetDelta varint");
  out->offset_delta = *offset_delta;
  RETURN_IF_ERROR(ReadLengthPrefixed(rec, "key", /*nullable=*/true, &out->key));
  RETURN_IF_ERROR(ReadLengthPrefixed(rec, "value", /*nullable=*/true, &out->value));

  const size_t count_at = rec.pos();
  auto header_count = rec.Varint();
  if (!header_count) return Corrupt("truncated or overlong header count varint");
  // Each header takes at least two bytes (two one-byte lengths). The bound keeps a hostile count
  // from running the loop long; the vector grows only with headers actually decoded.
  if (*header_count < 0 || static_cast<size_t>(*header_count) > rec.left() / 2) {
    return Corrupt("header count ", *header_count, " at byte ", count_at,
                   " of the record cannot fit in the ", rec.left(), " bytes left in the record");
  }
  out->headers.clear();
  for (int32_t h = 0; h < *header_count; ++h) {
    std::optional<std::string_view> key;
    RecordHeaderView& header = out->headers.emplace_back();
    absl::Status s = ReadLengthPrefixed(rec, "header key", /*nullable=*/false, &key);
    if (s.ok()) s = ReadLengthPrefixed(rec, "header value", /*nullable=*/true, &header.value);
    if (!s.ok()) return Corrupt("header ", h, ": ", s.message());
    header.key = *key;
  }
  if (rec.left() != 0) {
    return Corrupt(rec.left(), " bytes follow the last header of a ", body.size(), "-byte record");
  }
  return absl::OkStatus();
}

// Decodes the record at `area`'s position (length prefix included) and advances past it.
absl::Status DecodeRecord(Cursor& area, int32_t index, RecordView* out) {
  const size_t start = area.pos();
  auto length = area.Varint();
  absl::Status s;
  if (!length) {
    s = Corrupt("truncated or overlong length varint");
  } else if (*length < 0 || static_cast<size_t>(*length) > area.left()) {
    s = Corrupt("length ", *length, " but ", area.left(), " bytes left in the records area");
  } else {
    s = DecodeRecordBody(area.Take(static_cast<size_t>(*length)), out);
  }
  if (s.ok()) return s;
  return Corrupt("record ", index, " at byte ", start, " of the records area: ", s.message());
}

}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

absl::StatusOr<size_t> PeekBatchSize(Bytes prefix) {
  if (prefix.size() < kLogOverhead) {
    return Corrupt("need ", kLogOverhead, " bytes to read a batch length, have ", prefix.size());
  }
  const int32_t batch_length = LoadBigEndian<int32_t>(prefix.data() + kBatchLengthOffset);
  // Compare in int64_t: batch_length may be negative or near INT32_MAX.
  const int64_t size = int64_t{kLogOverhead} + batch_length;
  if (size < static_cast<int64_t>(kBatchHeaderSize) ||
      size > static_cast<int64_t>(kMaxBatchBytes)) {
    return Corrupt("batchLength ", batch_length, " gives a batch of ", size, " bytes, outside [",
                   kBatchHeaderSize, ", ", kMaxBatchBytes, "]");
  }
  return static_cast<size_t>(size);
}

void SetBaseOffset(std::span<uint8_t> batch, Offset base) {
  // Invariant: `batch` holds at least the fields before the CRC (callers pass a parsed batch).
  assert(batch.size() >= kCrcOffset);
  StoreBigEndian<int64_t>(batch.data() + kBaseOffsetOffset, base.value());
}

void SetPartitionLeaderEpoch(std::span<uint8_t> batch, int32_t epoch) {
  assert(batch.size() >= kCrcOffset);
  StoreBigEndian<int32_t>(batch.data() + kPartitionLeaderEpochOffset, epoch);
}

// ---------------------------------------------------------------------------------------------
// RecordBatchView

absl::StatusOr<RecordBatchView> RecordBatchView::Parse(Bytes bytes) {
  if (bytes.size() < kBatchHeaderSize) {
    return Corrupt("batch of ", bytes.size(), " bytes is shorter than the ", kBatchHeaderSize,
                   "-byte header");
  }
  ASSIGN_OR_RETURN(const size_t size, PeekBatchSize(bytes));
  if (size > bytes.size()) {
    return Corrupt("batchLength ", size - kLogOverhead, " needs ", size, " bytes, have ",
                   bytes.size());
  }
  RecordBatchView view(bytes.first(size));
  if (view.magic() != kMagicV2) {
    return Corrupt("magic ", static_cast<int>(view.magic()), ", expected ",
                   static_cast<int>(kMagicV2));
  }
  if (view.record_count() < 0) return Corrupt("negative recordCount ", view.record_count());
  return view;
}

absl::Status RecordBatchView::VerifyCrc() const {
  const uint32_t actual = Crc32c(bytes_.subspan(kAttributesOffset));
  if (actual != crc()) {
    return Corrupt("CRC32C mismatch: stored 0x", absl::Hex(crc(), absl::kZeroPad8), ", computed 0x",
                   absl::Hex(actual, absl::kZeroPad8), " over ", bytes_.size() - kAttributesOffset,
                   " bytes");
  }
  return absl::OkStatus();
}

absl::Status RecordBatchView::ValidateForAppend() const {
  RETURN_IF_ERROR(VerifyCrc());
  const int32_t count = record_count();
  if (count <= 0) return Corrupt("batch has no records (recordCount ", count, ")");
  if (int64_t{last_offset_delta()} + 1 != count) {
    return Corrupt("lastOffsetDelta ", last_offset_delta(), " does not match recordCount ", count,
                   " (expected ", count - 1, ")");
  }
  if ((attributes() & kCompressionMask) > kMaxCompressionCodec) {
    return Corrupt("unknown compression codec ", attributes() & kCompressionMask);
  }
  // A compressed batch's records are checked when decompressed, not here.
  if (compression() != Compression::kNone) return absl::OkStatus();

  // Producers number records 0, 1, 2, ...; only compaction leaves gaps, and it runs on the log.
  int32_t expected = 0;
  absl::Status delta_error;
  RETURN_IF_ERROR(ForEachRecord([&](const RecordView& r) {
    if (r.offset_delta != expected) {
      delta_error = Corrupt("record ", expected, " has offsetDelta ", r.offset_delta);
      return false;
    }
    ++expected;
    return true;
  }));
  return delta_error;
}

absl::Status RecordBatchView::ForEachRecord(
    const std::function<bool(const RecordView&)>& fn) const {
  if ((attributes() & kCompressionMask) > kMaxCompressionCodec) {
    return Corrupt("unknown compression codec ", attributes() & kCompressionMask);
  }
  if (compression() != Compression::kNone) {
    return absl::UnimplementedError(absl::StrCat(
        "decoding records of a ", StrCatArg(CompressionName(compression())), " batch"));
  }
  Cursor area(records_bytes());
  RecordView record;  // Reused so its headers vector keeps its capacity.
  const int32_t count = record_count();
  for (int32_t i = 0; i < count; ++i) {
    if (area.left() == 0) {
      return Corrupt("recordCount is ", count, " but the ", records_bytes().size(),
                     "-byte records area holds only ", i, " records");
    }
    RETURN_IF_ERROR(DecodeRecord(area, i, &record));
    if (!fn(record)) return absl::OkStatus();
  }
  if (area.left() != 0) {
    return Corrupt("recordCount is ", count, " but ", area.left(),
                   " bytes of the records area follow the last record");
  }
  return absl::OkStatus();
}

Offset RecordBatchView::base_offset() const {
  return Offset(LoadBigEndian<int64_t>(bytes_.data() + kBaseOffsetOffset));
}
int32_t RecordBatchView::batch_length() const {
  return LoadBigEndian<int32_t>(bytes_.data() + kBatchLengthOffset);
}
int32_t RecordBatchView::partition_leader_epoch() const {
  return LoadBigEndian<int32_t>(bytes_.data() + kPartitionLeaderEpochOffset);
}
int8_t RecordBatchView::magic() const {
  return LoadBigEndian<int8_t>(bytes_.data() + kMagicOffset);
}
uint32_t RecordBatchView::crc() const {
  return LoadBigEndian<uint32_t>(bytes_.data() + kCrcOffset);
}
int16_t RecordBatchView::attributes() const {
  return LoadBigEndian<int16_t>(bytes_.data() + kAttributesOffset);
}
// Codes 5-7 are representable (the enum's underlying type is uint8_t) and named "unknown".
Compression RecordBatchView::compression() const {
  return static_cast<Compression>(attributes() & kCompressionMask);
}
TimestampType RecordBatchView::timestamp_type() const {
  return (attributes() & kTimestampTypeBit) ? TimestampType::kLogAppendTime
                                            : TimestampType::kCreateTime;
}
bool RecordBatchView::is_transactional() const { return attributes() & kTransactionalBit; }
bool RecordBatchView::is_control() const { return attributes() & kControlBit; }
bool RecordBatchView::has_delete_horizon() const { return attributes() & kDeleteHorizonBit; }
int32_t RecordBatchView::last_offset_delta() const {
  return LoadBigEndian<int32_t>(bytes_.data() + kLastOffsetDeltaOffset);
}
int64_t RecordBatchView::base_timestamp() const {
  return LoadBigEndian<int64_t>(bytes_.data() + kBaseTimestampOffset);
}
int64_t RecordBatchView::max_timestamp() const {
  return LoadBigEndian<int64_t>(bytes_.data() + kMaxTimestampOffset);
}
int64_t RecordBatchView::producer_id() const {
  return LoadBigEndian<int64_t>(bytes_.data() + kProducerIdOffset);
}
int16_t RecordBatchView::producer_epoch() const {
  return LoadBigEndian<int16_t>(bytes_.data() + kProducerEpochOffset);
}
int32_t RecordBatchView::base_sequence() const {
  return LoadBigEndian<int32_t>(bytes_.data() + kBaseSequenceOffset);
}
int32_t RecordBatchView::record_count() const {
  return LoadBigEndian<int32_t>(bytes_.data() + kRecordCountOffset);
}

// ---------------------------------------------------------------------------------------------
// RecordBatchBuilder

namespace {

size_t LengthPrefixedSize(std::optional<std::string_view> s) {
  return s ? VarintSize(static_cast<int32_t>(s->size())) + s->size() : VarintSize(-1);
}

void AppendLengthPrefixed(std::string* out, std::optional<std::string_view> s) {
  if (!s) {
    AppendVarint(out, -1);
    return;
  }
  AppendVarint(out, static_cast<int32_t>(s->size()));
  out->append(*s);
}

}  // namespace

RecordBatchBuilder::RecordBatchBuilder(Options options) : options_(options) {}

void RecordBatchBuilder::Add(std::optional<std::string_view> key,
                             std::optional<std::string_view> value, std::span<const Header> headers,
                             int64_t timestamp_ms) {
  if (count_ == 0) {
    base_timestamp_ = timestamp_ms;
    max_timestamp_ = timestamp_ms;
  } else {
    max_timestamp_ = std::max(max_timestamp_, timestamp_ms);
  }
  // Wrapping subtraction, as Java's: defined for any pair, and the reader's base + delta wraps
  // back.
  const int64_t timestamp_delta = static_cast<int64_t>(static_cast<uint64_t>(timestamp_ms) -
                                                       static_cast<uint64_t>(base_timestamp_));
  const int32_t offset_delta = static_cast<int32_t>(count_);

  // The length prefix comes first, so size the body before writing it.
  size_t body_size = 1 + VarlongSize(timestamp_delta) + VarintSize(offset_delta) +
                     LengthPrefixedSize(key) + LengthPrefixedSize(value) +
                     VarintSize(static_cast<int32_t>(headers.size()));
  for (const Header& h : headers)
    body_size += LengthPrefixedSize(h.key) + LengthPrefixedSize(h.value);
  // Invariant: callers keep batches under kMaxBatchBytes, so every length fits an int32.
  assert(size_bytes() + body_size <= kMaxBatchBytes);

  AppendVarint(&records_, static_cast<int32_t>(body_size));
  [[maybe_unused]] const size_t body_start = records_.size();
  records_.push_back(0);  // Record attributes: unused by Kafka, always 0.
  AppendVarlong(&records_, timestamp_delta);
  AppendVarint(&records_, offset_delta);
  AppendLengthPrefixed(&records_, key);
  AppendLengthPrefixed(&records_, value);
  AppendVarint(&records_, static_cast<int32_t>(headers.size()));
  for (const Header& h : headers) {
    AppendLengthPrefixed(&records_, h.key);
    AppendLengthPrefixed(&records_, h.value);
  }
  assert(records_.size() - body_start == body_size);
  ++count_;
}

std::string RecordBatchBuilder::Build() {
  std::string out;
  out.reserve(size_bytes());
  out.resize(kBatchHeaderSize);
  out.append(records_);
  uint8_t* p = reinterpret_cast<uint8_t*>(out.data());

  int16_t attributes = static_cast<int16_t>(Compression::kNone);
  if (options_.timestamp_type == TimestampType::kLogAppendTime) attributes |= kTimestampTypeBit;
  if (options_.transactional) attributes |= kTransactionalBit;
  // An empty batch gets Kafka's empty-batch values: lastOffsetDelta -1, timestamps -1 (none).
  const int32_t count = static_cast<int32_t>(count_);
  const int64_t base_timestamp = count_ == 0 ? -1 : base_timestamp_;

  StoreBigEndian<int64_t>(p + kBaseOffsetOffset, options_.base_offset.value());
  StoreBigEndian<int32_t>(p + kBatchLengthOffset, static_cast<int32_t>(out.size() - kLogOverhead));
  StoreBigEndian<int32_t>(p + kPartitionLeaderEpochOffset, options_.partition_leader_epoch);
  StoreBigEndian<int8_t>(p + kMagicOffset, kMagicV2);
  StoreBigEndian<int16_t>(p + kAttributesOffset, attributes);
  StoreBigEndian<int32_t>(p + kLastOffsetDeltaOffset, count - 1);
  StoreBigEndian<int64_t>(p + kBaseTimestampOffset, base_timestamp);
  StoreBigEndian<int64_t>(p + kMaxTimestampOffset, max_timestamp_);
  StoreBigEndian<int64_t>(p + kProducerIdOffset, options_.producer_id);
  StoreBigEndian<int16_t>(p + kProducerEpochOffset, options_.producer_epoch);
  StoreBigEndian<int32_t>(p + kBaseSequenceOffset, options_.base_sequence);
  StoreBigEndian<int32_t>(p + kRecordCountOffset, count);
  StoreBigEndian<uint32_t>(p + kCrcOffset, Crc32c(AsBytes(out).subspan(kAttributesOffset)));

  records_.clear();
  count_ = 0;
  base_timestamp_ = 0;
  max_timestamp_ = -1;
  return out;
}

}  // namespace sluice::storage
