#pragma once
// The pure part of reading a Kafka request: the request header (v0-v2) of one frame and its
// dispatch to the registry (handler.h). No I/O, no connection: the connection (connection.cc)
// reads frames with it, and the fuzz target (tests/fuzz/kafka_request_fuzz.cc) feeds it arbitrary
// bytes. Any thread.
//
// Example:
//   auto parsed = ParseRequestHeader(frame);          // the frame without its int32 size
//   if (!parsed.ok()) { Reject(parsed.status().message()); ... }
//   Reader body(frame.subspan(parsed->header_size));
//   if (parsed->api->supports(parsed->header.api_version))
//     parsed->api->decode(body, parsed->header.api_version);   // what the handler decodes

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "broker/kafka/handler.h"

namespace sluice::broker::kafka {

// A Kafka request header.
struct RequestHeader {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id;
};

struct ParsedRequestHeader {
  RequestHeader header;
  const ApiHandler* api = nullptr;  // never null
  uint32_t header_size = 0;         // bytes of the header; the body follows
};

// Parses the header of a request frame (the bytes after the int32 size): api_key, api_version,
// correlation_id, client_id (int16 length, nullable, at every header version) and, at flexible
// versions of the API, the header's tagged fields. InvalidArgument, with the reason the
// connection logs before closing, on a truncated or unparsable header, an unknown API key, or an
// unsupported version of an API other than ApiVersions (an ApiVersions request above our range is
// answered, see connection.h; its header is read as v1 and its body is not read).
absl::StatusOr<ParsedRequestHeader> ParseRequestHeader(std::span<uint8_t> frame);

// ParseRequestHeader, then the API's body decoder at that version (ApiHandler::decode, the
// handler's own decode) over the rest of the frame: what the broker reads of a request before
// acting on it. OK when the broker would act on the request; the reason otherwise.
absl::Status DecodeRequest(std::span<uint8_t> frame);

}  // namespace sluice::broker::kafka
