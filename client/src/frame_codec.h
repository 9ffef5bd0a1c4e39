#pragma once
// Encoding and decoding of native protocol frames (proto/native_frame.h states the layout):
// pure functions over bytes, used by the client's connection and by the tests' fake broker.
//
// Example:
//   std::string head = EncodeFrameHead(request_header, payload.size());
//   // write head, then payload
//   ...
//   // after reading u32 length and `length` more bytes into `body`:
//   native::ResponseHeader h;
//   absl::StatusOr<size_t> payload_at = ParseFrameBody(body, &h);

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message_lite.h"

namespace sluice::client {

// The frame prefix (u32 length, u32 header_length) followed by the serialized `header`, for a
// frame whose payload of `payload_size` bytes is written right after.
std::string EncodeFrameHead(const google::protobuf::MessageLite& header, size_t payload_size);

// Parses `body` (a frame without its length field: u32 header_length | header | payload) into
// `header`. Returns the offset in `body` at which the payload starts.
absl::StatusOr<size_t> ParseFrameBody(std::string_view body, google::protobuf::MessageLite* header);

// Splits `payload` into consecutive slices of the given sizes. Fails if the sizes add up to more
// than the payload or leave bytes over.
absl::StatusOr<std::vector<std::string_view>> SplitPayload(std::string_view payload,
                                                           const std::vector<size_t>& sizes);

}  // namespace sluice::client
