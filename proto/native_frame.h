#pragma once
// Native protocol framing, shared by the broker and the client library (both include this; it
// has no dependency but the standard library). Layout, big-endian:
//
//   u32 length          bytes after this field: 4 + header_length + payload length
//   u32 header_length   bytes of the protobuf header
//   header              RequestHeader or ResponseHeader (proto/native.proto)
//   payload             raw RecordBatch v2 bytes, split among partitions as the header says
//
// See docs/protocol.md.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sluice::native {

constexpr uint32_t kProtocolVersion = 1;
constexpr uint32_t kMinProtocolVersion = 1;
constexpr size_t kLengthFieldSize = 4;
constexpr size_t kFramePrefixSize = 8;  // length + header_length
// Default cap on one frame; the broker's --max-frame-bytes overrides it.
constexpr uint32_t kDefaultMaxFrameBytes = 100u << 20;

inline void PutFrameU32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
inline uint32_t GetFrameU32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// The 8-byte prefix of a frame carrying `header_size` header bytes and `payload_size` payload.
inline std::string FramePrefix(size_t header_size, size_t payload_size) {
  std::string p(kFramePrefixSize, '\0');
  auto* b = reinterpret_cast<uint8_t*>(p.data());
  PutFrameU32(b, static_cast<uint32_t>(4 + header_size + payload_size));
  PutFrameU32(b + 4, static_cast<uint32_t>(header_size));
  return p;
}

// Checks a frame's length fields: `length` (the first u32) against the limit, and once the next
// 4 bytes are in, `header_length` against `length`. Returns a reason on failure.
inline std::optional<std::string> CheckFrameLength(uint32_t length, uint32_t max_frame_bytes) {
  if (length < 4) return "frame length " + std::to_string(length) + " is below the minimum 4";
  if (length > max_frame_bytes) {
    return "frame length " + std::to_string(length) + " exceeds the limit " +
           std::to_string(max_frame_bytes);
  }
  return std::nullopt;
}
inline std::optional<std::string> CheckHeaderLength(uint32_t header_length, uint32_t length) {
  if (header_length == 0 || header_length > length - 4) {
    return "header length " + std::to_string(header_length) + " does not fit frame length " +
           std::to_string(length);
  }
  return std::nullopt;
}

}  // namespace sluice::native
