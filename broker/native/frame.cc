#include "broker/native/frame.h"

#include "absl/strings/str_cat.h"
#include "proto/native_frame.h"

namespace sluice::broker::native {

namespace pb = ::sluice::native;

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

std::string EncodeResponseHead(const pb::ResponseHeader& h, uint64_t payload_size) {
  std::string header = h.SerializeAsString();
  std::string out = ::sluice::native::FramePrefix(header.size(), payload_size);
  out += header;
  return out;
}

}  // namespace sluice::broker::native
