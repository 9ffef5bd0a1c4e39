#include "broker/native/frame.h"

#include <cassert>

#include "absl/strings/str_cat.h"
#include "proto/native_frame.h"

namespace sluice::broker::native {

namespace pb = ::sluice::native;
using ::sluice::native::kMinProtocolVersion;
using ::sluice::native::kProtocolVersion;

std::optional<std::string> CheckRequestPayload(const pb::RequestHeader& h, uint64_t payload_size) {
  if (h.request_case() != pb::RequestHeader::kProduce) {
    if (payload_size != 0) {
      return absl::StrCat("request kind ", h.request_case(), " carries ", payload_size,
                          " payload bytes; only produce has a payload");
    }
    return std::nullopt;
  }
  uint64_t total = 0;
  for (const auto& p : h.produce().partitions()) total += p.size();  // u32 each: cannot overflow
  if (total != payload_size) {
    return absl::StrCat("produce partition sizes add up to ", total, " bytes but the payload has ",
                        payload_size);
  }
  return std::nullopt;
}

bool SupportedVersion(const pb::RequestHeader& h) {
  return h.version() >= kMinProtocolVersion && h.version() <= kProtocolVersion;
}

std::optional<std::string> ParseRequestFrame(std::span<const uint8_t> body, uint32_t header_length,
                                             pb::RequestHeader* header) {
  // Invariant: the reader checked the header length against the frame (CheckHeaderLength).
  assert(header_length <= body.size());
  if (!header->ParseFromArray(body.data(), static_cast<int>(header_length))) {
    return absl::StrCat("unparsable request header (", header_length, " bytes)");
  }
  if (!SupportedVersion(*header)) return std::nullopt;
  // An unknown request kind of a supported version is a broken client, not a newer one.
  if (header->request_case() == pb::RequestHeader::REQUEST_NOT_SET) {
    return std::string("request header without a request");
  }
  return CheckRequestPayload(*header, body.size() - header_length);
}

std::string EncodeResponseHead(const pb::ResponseHeader& h, uint64_t payload_size) {
  std::string header = h.SerializeAsString();
  std::string out = ::sluice::native::FramePrefix(header.size(), payload_size);
  out += header;
  return out;
}

}  // namespace sluice::broker::native
