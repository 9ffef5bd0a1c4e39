#include "broker/kafka/request_decoder.h"

#include "absl/strings/str_cat.h"

namespace sluice::broker::kafka {

absl::StatusOr<ParsedRequestHeader> ParseRequestHeader(std::span<uint8_t> frame) {
  Reader r(frame);
  ParsedRequestHeader out;
  RequestHeader& h = out.header;
  h.api_key = r.Int16();
  h.api_version = r.Int16();
  h.correlation_id = r.Int32();
  if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat("truncated request header: ", r.error()));
  const ApiHandler* api = FindHandler(h.api_key);
  if (api == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown API key ", h.api_key, " (version ",
                                                   h.api_version, ", correlation id ",
                                                   h.correlation_id, ")"));
  }
  const bool supported = api->supports(h.api_version);
  if (!supported && h.api_key != kApiVersionsKey) {
    return absl::InvalidArgumentError(
        absl::StrCat(api->name, " version ", h.api_version, " is not supported (this broker ",
                     "serves versions ", api->min_version, " to ", api->max_version,
                     "; correlation id ", h.correlation_id, ")"));
  }
  // client_id keeps its int16 length even in header v2, so that any broker can read the header
  // of an ApiVersions request of any version.
  h.client_id = r.NullableString();
  // An ApiVersions request of a version above ours is answered without reading its body, so
  // whatever follows the client id does not matter.
  if (supported && api->flexible(h.api_version)) SkipTaggedFields(r);
  if (!r.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("unparsable ", api->name, " v", h.api_version,
                                                   " request header: ", r.error()));
  }
  out.api = api;
  out.header_size = static_cast<uint32_t>(r.position());
  return out;
}

absl::Status DecodeRequest(std::span<uint8_t> frame) {
  absl::StatusOr<ParsedRequestHeader> parsed = ParseRequestHeader(frame);
  if (!parsed.ok()) return parsed.status();
  const ApiHandler& api = *parsed->api;
  const int16_t version = parsed->header.api_version;
  if (!api.supports(version)) return absl::OkStatus();  // ApiVersions above ours: body unread
  Reader body(frame.subspan(parsed->header_size));
  if (!api.decode(body, version)) {
    return absl::InvalidArgumentError(absl::StrCat("malformed ", api.name, " v", version,
                                                   " request (correlation id ",
                                                   parsed->header.correlation_id, "): ",
                                                   body.error()));
  }
  return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
