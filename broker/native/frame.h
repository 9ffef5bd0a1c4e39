#pragma once
// Frame-level checks and encoding for the broker side of the native protocol (the byte layout
// itself is in proto/native_frame.h). Everything here is pure: no I/O, any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "proto/native.pb.h"

namespace sluice::broker::native {

// Checks that the payload matches what the header says: a Produce's partition sizes must add up
// to exactly `payload_size`; every other request carries no payload. Returns the reason if not
// (the connection is then closed: the stream can no longer be trusted).
std::optional<std::string> CheckRequestPayload(const ::sluice::native::RequestHeader& h,
                                               uint64_t payload_size);

// The checks the connection makes of one request frame once it is read: `body` is what follows
// the 8-byte prefix (header_length header bytes, then the payload; CheckHeaderLength has passed).
// Parses the header into *header; at a supported version (SupportedVersion) the header must carry
// a request and the payload must match it (CheckRequestPayload). Returns the reason if the frame
// is malformed (the connection is then closed). A header of an unsupported version is not
// malformed: it is answered UNSUPPORTED_VERSION.
std::optional<std::string> ParseRequestFrame(std::span<const uint8_t> body, uint32_t header_length,
                                             ::sluice::native::RequestHeader* header);
bool SupportedVersion(const ::sluice::native::RequestHeader& h);

// The frame prefix and serialized header of a response carrying `payload_size` raw bytes after it.
std::string EncodeResponseHead(const ::sluice::native::ResponseHeader& h, uint64_t payload_size);

}  // namespace sluice::broker::native
