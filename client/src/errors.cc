#include "client/src/errors.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/absl_compat.h"

namespace sluice::client {
namespace {

constexpr char kPayloadUrl[] = "type.sluice.dev/native.ErrorCode";

struct Mapping {
  absl::StatusCode code;
  const char* description;
};

Mapping MapCode(native::ErrorCode code) {
  using C = absl::StatusCode;
  switch (code) {
    case native::NONE:
      return {C::kOk, ""};
    case native::UNKNOWN_SERVER_ERROR:
      return {C::kInternal, "the broker hit an unexpected error"};
    case native::INVALID_REQUEST:
      return {C::kInvalidArgument, "the broker rejected the request as malformed"};
    case native::UNSUPPORTED_VERSION:
      return {C::kUnimplemented, "the broker does not serve this protocol version"};
    case native::CORRUPT_MESSAGE:
      return {C::kDataLoss, "a record batch failed validation (CRC or layout)"};
    case native::MESSAGE_TOO_LARGE:
      return {C::kInvalidArgument, "the batch exceeds the topic's max.message.bytes"};
    case native::OFFSET_OUT_OF_RANGE:
      return {C::kOutOfRange, "the offset is outside the partition's log"};
    case native::UNKNOWN_TOPIC_OR_PARTITION:
      return {C::kNotFound, "no such topic or partition"};
    case native::TOPIC_ALREADY_EXISTS:
      return {C::kAlreadyExists, "the topic already exists"};
    case native::INVALID_TOPIC:
      return {C::kInvalidArgument, "invalid topic name"};
    case native::INVALID_PARTITIONS:
      return {C::kInvalidArgument, "invalid partition count"};
    case native::INVALID_CONFIG:
      return {C::kInvalidArgument, "invalid topic configuration"};
    case native::STORAGE_ERROR:
      return {C::kUnavailable,
              "the broker could not write or read its log; nothing was acknowledged"};
    case native::REQUEST_TIMED_OUT:
      return {C::kDeadlineExceeded, "the broker timed out the request"};
    case native::NOT_COORDINATOR:
      return {C::kUnavailable, "the broker is not this group's coordinator"};
    case native::COORDINATOR_NOT_AVAILABLE:
      return {C::kUnavailable, "the group coordinator is not available"};
    case native::REBALANCE_IN_PROGRESS:
      return {C::kAborted, "the group is rebalancing; rejoin"};
    case native::ILLEGAL_GENERATION:
      return {C::kAborted, "the group generation has moved on; rejoin"};
    case native::UNKNOWN_MEMBER_ID:
      return {C::kAborted, "the coordinator does not know this member; rejoin"};
    case native::INCONSISTENT_GROUP_PROTOCOL:
      return {C::kFailedPrecondition, "no assignor is shared with the group's other members"};
    case native::INVALID_SESSION_TIMEOUT:
      return {C::kInvalidArgument, "session timeout outside the broker's allowed range"};
    case native::GROUP_ID_NOT_FOUND:
      return {C::kNotFound, "no such group"};
    case native::NON_EMPTY_GROUP:
      return {C::kFailedPrecondition, "the group still has members"};
    case native::INVALID_GROUP_ID:
      return {C::kInvalidArgument, "invalid group id"};
    case native::MEMBER_ID_REQUIRED:
      return {C::kFailedPrecondition, "rejoin with the member id the coordinator assigned"};
    case native::POLICY_VIOLATION:
      return {C::kFailedPrecondition, "the request violates a broker policy"};
    case native::SHUTTING_DOWN:
      return {C::kUnavailable, "the broker is shutting down"};
    default:
      return {C::kUnknown, "unknown error code"};
  }
}

}  // namespace

absl::Status FromNative(native::ErrorCode code, std::string_view broker_message,
                        std::string_view context) {
  const Mapping m = MapCode(code);
  if (m.code == absl::StatusCode::kOk) return absl::OkStatus();
  const std::string name = native::ErrorCode_IsValid(code)
                               ? native::ErrorCode_Name(code)
                               : absl::StrCat("ERROR_", static_cast<int>(code));
  absl::Status s(m.code, absl::StrCat(ToAbsl(context), ": ", name, ": ",
                                      broker_message.empty() ? absl::string_view(m.description)
                                                             : ToAbsl(broker_message)));
  s.SetPayload(kPayloadUrl, absl::Cord(std::to_string(static_cast<int>(code))));
  return s;
}

std::optional<native::ErrorCode> NativeCodeOf(const absl::Status& s) {
  auto p = s.GetPayload(kPayloadUrl);
  if (!p) return std::nullopt;
  int v = 0;
  if (!absl::SimpleAtoi(std::string(*p), &v)) return std::nullopt;
  return static_cast<native::ErrorCode>(v);
}

bool IsRetriable(const absl::Status& s) {
  if (auto code = NativeCodeOf(s)) {
    switch (*code) {
      case native::STORAGE_ERROR:
      case native::REQUEST_TIMED_OUT:
      case native::UNKNOWN_TOPIC_OR_PARTITION:  // may be a topic still being created
      case native::NOT_COORDINATOR:
      case native::COORDINATOR_NOT_AVAILABLE:
      case native::SHUTTING_DOWN:
        return true;
      default:
        return false;
    }
  }
  // Transport failures from the connection layer.
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace sluice::client
