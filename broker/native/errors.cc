#include "broker/native/errors.h"

#include "absl/strings/str_cat.h"
#include "storage/absl_compat.h"
#include "storage/errors.h"

namespace sluice::broker::native {

namespace pb = ::sluice::native;
using storage::StorageErrc;

pb::ErrorCode ErrorCodeFor(const absl::Status& s) {
  if (s.ok()) return pb::NONE;
  if (auto errc = storage::StorageErrcOf(s)) {
    switch (*errc) {
      case StorageErrc::kCorruptBatch:
        return pb::CORRUPT_MESSAGE;
      case StorageErrc::kBatchTooLarge:
        return pb::MESSAGE_TOO_LARGE;
      case StorageErrc::kOffsetOutOfRange:
        return pb::OFFSET_OUT_OF_RANGE;
      case StorageErrc::kUnknownTopic:
        return pb::UNKNOWN_TOPIC_OR_PARTITION;
      case StorageErrc::kTopicExists:
        return pb::TOPIC_ALREADY_EXISTS;
      case StorageErrc::kInvalidTopic:
        return pb::INVALID_TOPIC;
      case StorageErrc::kInvalidPartitions:
        return pb::INVALID_PARTITIONS;
      case StorageErrc::kLimitExceeded:
        return pb::POLICY_VIOLATION;
      case StorageErrc::kIoError:
      case StorageErrc::kDiskFull:
      case StorageErrc::kFenced:
        return pb::STORAGE_ERROR;
      case StorageErrc::kShuttingDown:
        return pb::SHUTTING_DOWN;
      // Idempotent-producer sequence checks: the native client does not set producer ids, so a
      // batch that does and fails them is a request error (the message says which check).
      case StorageErrc::kOutOfOrderSequence:
      case StorageErrc::kInvalidProducerEpoch:
        return pb::INVALID_REQUEST;
    }
  }
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return pb::INVALID_REQUEST;
    case absl::StatusCode::kNotFound:
      return pb::UNKNOWN_TOPIC_OR_PARTITION;
    case absl::StatusCode::kDeadlineExceeded:
      return pb::REQUEST_TIMED_OUT;
    case absl::StatusCode::kOutOfRange:
      return pb::OFFSET_OUT_OF_RANGE;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
      return pb::STORAGE_ERROR;
    default:
      return pb::UNKNOWN_SERVER_ERROR;
  }
}

pb::ErrorCode ErrorCodeFor(GroupError e) {
  switch (e) {
    case GroupError::kNone:
      return pb::NONE;
    case GroupError::kCoordinatorNotAvailable:
      return pb::COORDINATOR_NOT_AVAILABLE;
    case GroupError::kRebalanceInProgress:
      return pb::REBALANCE_IN_PROGRESS;
    case GroupError::kIllegalGeneration:
      return pb::ILLEGAL_GENERATION;
    case GroupError::kUnknownMemberId:
      return pb::UNKNOWN_MEMBER_ID;
    case GroupError::kInconsistentGroupProtocol:
      return pb::INCONSISTENT_GROUP_PROTOCOL;
    case GroupError::kInvalidSessionTimeout:
      return pb::INVALID_SESSION_TIMEOUT;
    case GroupError::kGroupIdNotFound:
      return pb::GROUP_ID_NOT_FOUND;
    case GroupError::kNonEmptyGroup:
      return pb::NON_EMPTY_GROUP;
    case GroupError::kInvalidGroupId:
      return pb::INVALID_GROUP_ID;
    case GroupError::kMemberIdRequired:
      return pb::MEMBER_ID_REQUIRED;
    case GroupError::kStorageError:
      return pb::STORAGE_ERROR;
  }
  return pb::UNKNOWN_SERVER_ERROR;
}

void SetError(pb::Error* out, const absl::Status& s) {
  out->set_code(ErrorCodeFor(s));
  if (!s.ok()) out->set_message(std::string(ToStd(s.message())));
}

void SetError(pb::Error* out, GroupError e) {
  out->set_code(ErrorCodeFor(e));
  if (e != GroupError::kNone) out->set_message(std::string(GroupErrorName(e)));
}

void SetConfigError(pb::Error* out, const absl::Status& s) {
  out->set_code(s.ok() ? pb::NONE : pb::INVALID_CONFIG);
  if (!s.ok()) out->set_message(std::string(ToStd(s.message())));
}

void SetDurabilityError(pb::Error* out, const absl::Status& s) {
  out->set_code(s.code() == absl::StatusCode::kDeadlineExceeded ? pb::REQUEST_TIMED_OUT
                                                                : pb::STORAGE_ERROR);
  out->set_message(absl::StrCat("not durable: ", s.message()));
}

void SetError(pb::Error* out, pb::ErrorCode code, std::string message) {
  out->set_code(code);
  out->set_message(std::move(message));
}

}  // namespace sluice::broker::native
