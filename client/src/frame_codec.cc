#include "client/src/frame_codec.h"

#include "absl/strings/str_cat.h"
#include "proto/native_frame.h"

namespace sluice::client {

std::string EncodeFrameHead(const google::protobuf::MessageLite& header, size_t payload_size) {
  const std::string bytes = header.SerializeAsString();
  std::string head = native::FramePrefix(bytes.size(), payload_size);
  head.append(bytes);
  return head;
}

absl::StatusOr<size_t> ParseFrameBody(std::string_view body,
                                      google::protobuf::MessageLite* header) {
  if (body.size() < 4) {
    return absl::DataLossError(
        absl::StrCat("frame of ", body.size(), " bytes has no header length"));
  }
  const uint32_t header_length = native::GetFrameU32(reinterpret_cast<const uint8_t*>(body.data()));
  const uint32_t length = static_cast<uint32_t>(body.size());
  if (auto reason = native::CheckHeaderLength(header_length, length)) {
    return absl::DataLossError(*reason);
  }
  if (!header->ParseFromArray(body.data() + 4, static_cast<int>(header_length))) {
    return absl::DataLossError(absl::StrCat("frame header of ", header_length,
                                            " bytes does not parse as ", header->GetTypeName()));
  }
  return size_t{4} + header_length;
}

absl::StatusOr<std::vector<std::string_view>> SplitPayload(std::string_view payload,
                                                           const std::vector<size_t>& sizes) {
  std::vector<std::string_view> out;
  out.reserve(sizes.size());
  size_t at = 0;
  for (size_t s : sizes) {
    if (s > payload.size() - at) {
      return absl::DataLossError(
          absl::StrCat("payload of ", payload.size(), " bytes is shorter than its slices claim"));
    }
    out.push_back(payload.substr(at, s));
    at += s;
  }
  if (at != payload.size()) {
    return absl::DataLossError(
        absl::StrCat("payload has ", payload.size() - at, " bytes beyond its slices"));
  }
  return out;
}

}  // namespace sluice::client
