#pragma once
// Kafka RecordBatch v2 (magic 2): a zero-copy validating view and a builder. This is the one batch
// codec of the project; the broker and the client library both use it.
//
// Layout (big-endian), as on Kafka's wire and on our disk:
//   offset  size  field
//        0     8  baseOffset            assigned by the broker (outside the CRC)
//        8     4  batchLength           bytes after this field
//       12     4  partitionLeaderEpoch  (outside the CRC)
//       16     1  magic                 = 2
//       17     4  crc                   CRC32C of bytes [21, end)
//       21     2  attributes            bits 0-2 compression, 3 timestamp type, 4 transactional,
//                                       5 control, 6 delete horizon
//       23     4  lastOffsetDelta
//       27     8  baseTimestamp
//       35     8  maxTimestamp
//       43     8  producerId
//       51     2  producerEpoch
//       53     4  baseSequence
//       57     4  recordCount
//       61        records (compressed as a whole when compression != none)
// Record: varint length | int8 attributes | varlong timestampDelta | varint offsetDelta |
//         varint keyLength | key | varint valueLength | value | varint headerCount |
//         (varint keyLength | key | varint valueLength | value)*   (lengths -1 mean null)
//
// Example:
//   RecordBatchBuilder b;
//   b.Add("key", "value", {}, /*timestamp_ms=*/1700000000000);
//   std::string bytes = b.Build();
//   auto view = RecordBatchView::Parse(AsBytes(bytes));
//   if (view.ok() && view->VerifyCrc().ok()) { ... view->record_count() ... }

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/types.h"

namespace sluice::storage {

using Bytes = std::span<const uint8_t>;
inline Bytes AsBytes(std::string_view s) {
  return Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsStringView(Bytes b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

constexpr size_t kBatchHeaderSize = 61;
// baseOffset + batchLength: the bytes before the part batchLength counts.
constexpr size_t kLogOverhead = 12;
constexpr size_t kCrcOffset = 17;
constexpr size_t kAttributesOffset = 21;
constexpr int8_t kMagicV2 = 2;
// Hard upper bound on any batch we parse, whatever the configured max message size.
constexpr size_t kMaxBatchBytes = 1u << 30;

enum class Compression : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };
enum class TimestampType : uint8_t { kCreateTime = 0, kLogAppendTime = 1 };

std::string_view CompressionName(Compression c);

struct RecordHeaderView {
  std::string_view key;
  std::optional<std::string_view> value;  // nullopt: null value
};

// One decoded record of an uncompressed batch; views point into the batch's bytes.
struct RecordView {
  int8_t attributes = 0;
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  std::optional<std::string_view> key;    // nullopt: null key
  std::optional<std::string_view> value;  // nullopt: null value (tombstone)
  std::vector<RecordHeaderView> headers;
};

// Reads the batch size (kLogOverhead + batchLength) from the first 12 bytes of `prefix` and checks
// it is plausible (at least a header, at most kMaxBatchBytes). Used to walk a segment.
absl::StatusOr<size_t> PeekBatchSize(Bytes prefix);

// Overwrites baseOffset in place (outside the CRC, so the CRC stays valid).
void SetBaseOffset(std::span<uint8_t> batch, Offset base);
void SetPartitionLeaderEpoch(std::span<uint8_t> batch, int32_t epoch);

// A view of one RecordBatch v2 at the start of a byte range. Does not own the bytes: they must
// outlive the view. Cheap to copy. Any thread.
class RecordBatchView {
 public:
  // Checks the structure: at least a header's worth of bytes, batchLength plausible and covered
  // by `bytes`, magic 2, non-negative record count. Does not check the CRC. The view covers
  // exactly one batch; `bytes` may continue past it.
  static absl::StatusOr<RecordBatchView> Parse(Bytes bytes);

  // Checks the stored CRC32C against bytes [21, end).
  absl::Status VerifyCrc() const;
  // Everything a broker checks before appending a producer's batch: the CRC, recordCount > 0,
  // lastOffsetDelta + 1 == recordCount, and for uncompressed batches that the records decode
  // and fill the batch exactly.
  absl::Status ValidateForAppend() const;

  Bytes bytes() const { return bytes_; }
  size_t size_bytes() const { return bytes_.size(); }
  Offset base_offset() const;
  // baseOffset + lastOffsetDelta, wrapping (as Java's long) when hostile bytes put it past the
  // int64 range: Parse does not check offsets, callers that trust them do (recovery).
  Offset last_offset() const {
    return Offset(static_cast<int64_t>(static_cast<uint64_t>(base_offset().value()) +
                                       static_cast<uint64_t>(int64_t{last_offset_delta()})));
  }
  int32_t batch_length() const;
  int32_t partition_leader_epoch() const;
  int8_t magic() const;
  uint32_t crc() const;
  int16_t attributes() const;
  Compression compression() const;
  TimestampType timestamp_type() const;
  bool is_transactional() const;
  bool is_control() const;
  bool has_delete_horizon() const;
  int32_t last_offset_delta() const;
  int64_t base_timestamp() const;
  int64_t max_timestamp() const;
  int64_t producer_id() const;
  int16_t producer_epoch() const;
  int32_t base_sequence() const;
  int32_t record_count() const;
  // The records area (compressed as a whole when compression() != kNone).
  Bytes records_bytes() const { return bytes_.subspan(kBatchHeaderSize); }

  // Decodes each record of an uncompressed batch in order. Returns InvalidArgument on malformed
  // records (lengths past the end, count mismatch, trailing bytes) and Unimplemented for a
  // compressed batch. Stops early, returning OK, when `fn` returns false.
  absl::Status ForEachRecord(const std::function<bool(const RecordView&)>& fn) const;

 private:
  explicit RecordBatchView(Bytes b) : bytes_(b) {}
  Bytes bytes_;
};

// Builds one RecordBatch v2, uncompressed. Not thread-safe.
class RecordBatchBuilder {
 public:
  struct Options {
    Offset base_offset{0};
    int32_t partition_leader_epoch = -1;
    TimestampType timestamp_type = TimestampType::kCreateTime;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    bool transactional = false;
  };
  struct Header {
    std::string_view key;
    std::optional<std::string_view> value;
  };

  RecordBatchBuilder() : RecordBatchBuilder(Options{}) {}
  explicit RecordBatchBuilder(Options options);

  // Appends a record; the first record's timestamp becomes baseTimestamp.
  void Add(std::optional<std::string_view> key, std::optional<std::string_view> value,
           std::span<const Header> headers, int64_t timestamp_ms);
  size_t record_count() const { return count_; }
  // Size of the batch Build() would return now.
  size_t size_bytes() const { return kBatchHeaderSize + records_.size(); }
  bool empty() const { return count_ == 0; }
  // Encodes header and CRC and returns the batch. The builder is reset for reuse.
  std::string Build();

 private:
  Options options_;
  std::string records_;
  size_t count_ = 0;
  int64_t base_timestamp_ = 0;
  int64_t max_timestamp_ = -1;
};

}  // namespace sluice::storage
