#pragma once
// Kafka wire primitives: a bounds-checked Reader and a Writer that can splice file ranges
// (zero-copy record batches) into its output. The generated message structs
// (broker/kafka/schema/*.json -> kafka_messages.h) are written in terms of these.
//
// Reader: every read is checked against the bytes left; the first failure makes the reader
// "failed" (ok() false, error() says what and where) and every later read returns a zero value.
// Decoders read a whole message and check ok() once: hostile input can never read out of bounds,
// allocate more than the frame holds (array and string lengths are checked against the bytes
// left before anything is allocated), or throw.
//
// Writer: appends big-endian values to a byte buffer. Records fields may carry file slices; the
// writer records where each slice goes ("splices") instead of copying it, and the connection
// sends bytes and slices interleaved (sendfile for the slices).
//
// Example:
//   Reader r(body);
//   int32_t id = r.Int32();
//   std::optional<std::string> s = r.NullableString();
//   if (!r.ok()) return InvalidRequest(r.error());
//   Writer w;
//   w.Int32(id);
//   w.CompactString("hello");

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/partition_log.h"

namespace sluice::broker::kafka {

using Uuid = std::array<uint8_t, 16>;

// A `records` field (RecordBatch v2 bytes, or null). In a decoded request it views the request
// buffer (`data`, mutable so Produce can patch baseOffset in place); in a response it may also
// carry file slices sent after `data` without copying. null = absent (length -1).
struct Records {
  bool null = true;
  std::span<uint8_t> data;
  std::string owned;  // bytes owned by the response itself (written before `slices`)
  std::vector<storage::FileSlice> slices;

  uint64_t size() const;
};

class Reader {
 public:
  explicit Reader(std::span<uint8_t> data)
      : data_(data), memory_budget_(data.size() * kMemoryAmplification + (64 << 10)) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t position() const { return pos_; }
  size_t remaining() const { return ok() ? data_.size() - pos_ : 0; }
  // Marks the reader failed (the first reason is kept).
  void Fail(std::string_view why);

  int8_t Int8();
  int16_t Int16();
  int32_t Int32();
  int64_t Int64();
  uint16_t Uint16();
  uint32_t Uint32();
  double Float64();
  bool Bool();
  int32_t Varint();
  int64_t Varlong();
  uint32_t UnsignedVarint();
  Uuid ReadUuid();

  // int16 length; a null (-1) is an error for String().
  std::string String();
  std::optional<std::string> NullableString();
  // Unsigned varint length + 1; 0 is null.
  std::string CompactString();
  std::optional<std::string> CompactNullableString();
  // int32 length.
  std::string Bytes();
  std::optional<std::string> NullableBytes();
  std::string CompactBytes();
  std::optional<std::string> CompactNullableBytes();
  // int32 length (or compact), a view into the buffer.
  Records ReadRecords(bool compact);

  // An array's element count (int32, or compact: unsigned varint count + 1); -1 for null. Fails
  // if the count could not fit in the bytes left at `min_element_bytes` each.
  int32_t ArrayLength(bool compact, size_t min_element_bytes = 1);
  // Counts `bytes` of memory the decoded message is about to take (arrays, before they are
  // reserved) and fails once the total passes kMemoryAmplification times the input plus 64 KiB:
  // a well-formed request of many tiny elements (empty topic names: 2 bytes on the wire, 32 in
  // memory) must not make the broker allocate many times what the client sent.
  static constexpr size_t kMemoryAmplification = 8;
  void ChargeMemory(size_t bytes);

  // The next `n` bytes as a view (advances).
  std::span<uint8_t> Take(size_t n);
  // A reader over the next `n` bytes (advances past them). Its failures are its own.
  Reader Sub(size_t n);

 private:
  bool Need(size_t n, const char* what);

  std::span<uint8_t> data_;
  size_t memory_budget_ = 0;
  size_t memory_charged_ = 0;
  size_t pos_ = 0;
  std::string error_;
};

class Writer {
 public:
  struct Splice {
    size_t at;  // byte offset in bytes() where the slice goes
    storage::FileSlice slice;
  };

  void Int8(int8_t v);
  void Int16(int16_t v);
  void Int32(int32_t v);
  void Int64(int64_t v);
  void Uint16(uint16_t v);
  void Uint32(uint32_t v);
  void Float64(double v);
  void Bool(bool v) { Int8(v ? 1 : 0); }
  void Varint(int32_t v);
  void Varlong(int64_t v);
  void UnsignedVarint(uint32_t v);
  void WriteUuid(const Uuid& v);

  // At most 32767 bytes (an int16 length): anything longer is cut there.
  void String(std::string_view s);
  void NullableString(const std::optional<std::string>& s);
  void CompactString(std::string_view s);
  void CompactNullableString(const std::optional<std::string>& s);
  void Bytes(std::string_view s);
  void NullableBytes(const std::optional<std::string>& s);
  void CompactBytes(std::string_view s);
  void CompactNullableBytes(const std::optional<std::string>& s);
  void WriteRecords(const Records& r, bool compact);

  void ArrayLength(int32_t n, bool compact);  // n = -1 for null
  void Raw(std::span<const uint8_t> bytes);
  void Raw(std::string_view bytes);

  // Reserves an int32 to fill in later (a size prefix), returning where it is.
  size_t ReserveInt32();
  void PatchInt32(size_t at, int32_t v);

  // Total output size: bytes plus spliced slices.
  uint64_t size() const { return bytes_.size() + spliced_bytes_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t>& mutable_bytes() { return bytes_; }
  const std::vector<Splice>& splices() const { return splices_; }

 private:
  std::vector<uint8_t> bytes_;
  std::vector<Splice> splices_;
  uint64_t spliced_bytes_ = 0;
};

}  // namespace sluice::broker::kafka
