#pragma once
// Kafka's variable-length integers, as the records of a RecordBatch v2 use them: the value is
// zigzag-mapped (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) and written 7 bits a byte, least
// significant group first, high bit set on every byte but the last. A varint holds an int32 in at
// most 5 bytes, a varlong an int64 in at most 10. Header-only.
//
// Decoding is strict where Kafka's Java reader is lax: an encoding longer than the maximum, or
// whose last byte carries bits beyond the type's width, is rejected rather than truncated.
// Non-minimal encodings within the maximum (0x80 0x00 for 0) are accepted, as Java does.
//
// Example:
//   std::string out;
//   AppendVarint(&out, -1);                                  // out == "\x01"
//   auto d = DecodeVarint(std::span<const uint8_t>(...));    // d->value == -1, d->size == 1

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sluice::storage {

constexpr size_t kMaxVarintBytes = 5;
constexpr size_t kMaxVarlongBytes = 10;

// A decoded value and the number of bytes its encoding took.
template <typename T>
struct DecodedVarint {
  T value;
  size_t size;
};

constexpr uint32_t ZigZagEncode32(int32_t v) {
  // Right shift of a negative value is arithmetic since C++20.
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}
constexpr uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int32_t ZigZagDecode32(uint32_t u) {
  return static_cast<int32_t>((u >> 1) ^ (0u - (u & 1)));
}
constexpr int64_t ZigZagDecode64(uint64_t u) {
  return static_cast<int64_t>((u >> 1) ^ (uint64_t{0} - (u & 1)));
}

namespace varint_internal {

template <typename U>
constexpr size_t UnsignedSize(U u) {
  size_t n = 1;
  for (; u >= 0x80; u >>= 7) ++n;
  return n;
}

template <typename U>
void AppendUnsigned(std::string* out, U u) {
  for (; u >= 0x80; u >>= 7) out->push_back(static_cast<char>((u & 0x7F) | 0x80));
  out->push_back(static_cast<char>(u));
}

// Decodes at most kMaxBytes bytes of `in`; nullopt when `in` ends inside the encoding, the
// encoding runs past kMaxBytes, or its last byte has bits beyond U's width.
template <typename U, size_t kMaxBytes>
std::optional<DecodedVarint<U>> DecodeUnsigned(std::span<const uint8_t> in) {
  // Bits the last permitted byte may carry: 32 - 28 = 4 for a varint, 64 - 63 = 1 for a varlong.
  constexpr unsigned kLastByteBits = sizeof(U) * 8 - 7 * (kMaxBytes - 1);
  U result = 0;
  const size_t limit = std::min(in.size(), kMaxBytes);
  for (size_t i = 0; i < limit; ++i) {
    const U b = in[i];
    // Also rejects a continuation bit on the last permitted byte.
    if (i == kMaxBytes - 1 && (b >> kLastByteBits) != 0) return std::nullopt;
    result |= (b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) return DecodedVarint<U>{result, i + 1};
  }
  return std::nullopt;
}

}  // namespace varint_internal

constexpr size_t VarintSize(int32_t v) { return varint_internal::UnsignedSize(ZigZagEncode32(v)); }
constexpr size_t VarlongSize(int64_t v) { return varint_internal::UnsignedSize(ZigZagEncode64(v)); }

inline void AppendVarint(std::string* out, int32_t v) {
  varint_internal::AppendUnsigned(out, ZigZagEncode32(v));
}
inline void AppendVarlong(std::string* out, int64_t v) {
  varint_internal::AppendUnsigned(out, ZigZagEncode64(v));
}

// Decodes the varint at the start of `in`; nullopt if it is truncated or malformed.
inline std::optional<DecodedVarint<int32_t>> DecodeVarint(std::span<const uint8_t> in) {
  auto u = varint_internal::DecodeUnsigned<uint32_t, kMaxVarintBytes>(in);
  if (!u) return std::nullopt;
  return DecodedVarint<int32_t>{ZigZagDecode32(u->value), u->size};
}

// Decodes the varlong at the start of `in`; nullopt if it is truncated or malformed.
inline std::optional<DecodedVarint<int64_t>> DecodeVarlong(std::span<const uint8_t> in) {
  auto u = varint_internal::DecodeUnsigned<uint64_t, kMaxVarlongBytes>(in);
  if (!u) return std::nullopt;
  return DecodedVarint<int64_t>{ZigZagDecode64(u->value), u->size};
}

}  // namespace sluice::storage
