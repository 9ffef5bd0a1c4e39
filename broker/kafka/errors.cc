#include "broker/kafka/errors.h"

#include "storage/absl_compat.h"
#include "storage/errors.h"

namespace sluice::broker::kafka {

using storage::StorageErrc;

std::string_view ErrorName(ErrorCode e) {
  switch (e) {
    case ErrorCode::kUnknownServerError: return "UNKNOWN_SERVER_ERROR";
    case ErrorCode::kNone: return "NONE";
    case ErrorCode::kOffsetOutOfRange: return "OFFSET_OUT_OF_RANGE";
    case ErrorCode::kCorruptMessage: return "CORRUPT_MESSAGE";
    case ErrorCode::kUnknownTopicOrPartition: return "UNKNOWN_TOPIC_OR_PARTITION";
    case ErrorCode::kLeaderNotAvailable: return "LEADER_NOT_AVAILABLE";
    case ErrorCode::kNotLeaderOrFollower: return "NOT_LEADER_OR_FOLLOWER";
    case ErrorCode::kRequestTimedOut: return "REQUEST_TIMED_OUT";
    case ErrorCode::kMessageTooLarge: return "MESSAGE_TOO_LARGE";
    case ErrorCode::kOffsetMetadataTooLarge: return "OFFSET_METADATA_TOO_LARGE";
    case ErrorCode::kCoordinatorLoadInProgress: return "COORDINATOR_LOAD_IN_PROGRESS";
    case ErrorCode::kCoordinatorNotAvailable: return "COORDINATOR_NOT_AVAILABLE";
    case ErrorCode::kNotCoordinator: return "NOT_COORDINATOR";
    case ErrorCode::kInvalidTopicException: return "INVALID_TOPIC_EXCEPTION";
    case ErrorCode::kRecordListTooLarge: return "RECORD_LIST_TOO_LARGE";
    case ErrorCode::kInvalidRequiredAcks: return "INVALID_REQUIRED_ACKS";
    case ErrorCode::kIllegalGeneration: return "ILLEGAL_GENERATION";
    case ErrorCode::kInconsistentGroupProtocol: return "INCONSISTENT_GROUP_PROTOCOL";
    case ErrorCode::kInvalidGroupId: return "INVALID_GROUP_ID";
    case ErrorCode::kUnknownMemberId: return "UNKNOWN_MEMBER_ID";
    case ErrorCode::kInvalidSessionTimeout: return "INVALID_SESSION_TIMEOUT";
    case ErrorCode::kRebalanceInProgress: return "REBALANCE_IN_PROGRESS";
    case ErrorCode::kInvalidTimestamp: return "INVALID_TIMESTAMP";
    case ErrorCode::kUnsupportedVersion: return "UNSUPPORTED_VERSION";
    case ErrorCode::kTopicAlreadyExists: return "TOPIC_ALREADY_EXISTS";
    case ErrorCode::kInvalidPartitions: return "INVALID_PARTITIONS";
    case ErrorCode::kInvalidReplicationFactor: return "INVALID_REPLICATION_FACTOR";
    case ErrorCode::kInvalidReplicaAssignment: return "INVALID_REPLICA_ASSIGNMENT";
    case ErrorCode::kInvalidConfig: return "INVALID_CONFIG";
    case ErrorCode::kInvalidRequest: return "INVALID_REQUEST";
    case ErrorCode::kUnsupportedForMessageFormat: return "UNSUPPORTED_FOR_MESSAGE_FORMAT";
    case ErrorCode::kPolicyViolation: return "POLICY_VIOLATION";
    case ErrorCode::kOutOfOrderSequenceNumber: return "OUT_OF_ORDER_SEQUENCE_NUMBER";
    case ErrorCode::kDuplicateSequenceNumber: return "DUPLICATE_SEQUENCE_NUMBER";
    case ErrorCode::kInvalidProducerEpoch: return "INVALID_PRODUCER_EPOCH";
    case ErrorCode::kInvalidTxnState: return "INVALID_TXN_STATE";
    case ErrorCode::kInvalidProducerIdMapping: return "INVALID_PRODUCER_ID_MAPPING";
    case ErrorCode::kInvalidTransactionTimeout: return "INVALID_TRANSACTION_TIMEOUT";
    case ErrorCode::kTransactionalIdAuthorizationFailed:
      return "TRANSACTIONAL_ID_AUTHORIZATION_FAILED";
    case ErrorCode::kKafkaStorageError: return "KAFKA_STORAGE_ERROR";
    case ErrorCode::kUnknownProducerId: return "UNKNOWN_PRODUCER_ID";
    case ErrorCode::kNonEmptyGroup: return "NON_EMPTY_GROUP";
    case ErrorCode::kGroupIdNotFound: return "GROUP_ID_NOT_FOUND";
    case ErrorCode::kFencedLeaderEpoch: return "FENCED_LEADER_EPOCH";
    case ErrorCode::kUnknownLeaderEpoch: return "UNKNOWN_LEADER_EPOCH";
    case ErrorCode::kUnsupportedCompressionType: return "UNSUPPORTED_COMPRESSION_TYPE";
    case ErrorCode::kOffsetNotAvailable: return "OFFSET_NOT_AVAILABLE";
    case ErrorCode::kMemberIdRequired: return "MEMBER_ID_REQUIRED";
    case ErrorCode::kGroupMaxSizeReached: return "GROUP_MAX_SIZE_REACHED";
    case ErrorCode::kFencedInstanceId: return "FENCED_INSTANCE_ID";
    case ErrorCode::kInvalidRecord: return "INVALID_RECORD";
    case ErrorCode::kProducerFenced: return "PRODUCER_FENCED";
    case ErrorCode::kResourceNotFound: return "RESOURCE_NOT_FOUND";
  }
  return "UNKNOWN";
}

ErrorCode ErrorFor(const absl::Status& s) {
  if (s.ok()) return ErrorCode::kNone;
  if (auto errc = storage::StorageErrcOf(s)) {
    switch (*errc) {
      case StorageErrc::kCorruptBatch:
        return ErrorCode::kCorruptMessage;
      case StorageErrc::kBatchTooLarge:
        return ErrorCode::kMessageTooLarge;
      case StorageErrc::kOffsetOutOfRange:
        return ErrorCode::kOffsetOutOfRange;
      case StorageErrc::kUnknownTopic:
        return ErrorCode::kUnknownTopicOrPartition;
      case StorageErrc::kTopicExists:
        return ErrorCode::kTopicAlreadyExists;
      case StorageErrc::kInvalidTopic:
        return ErrorCode::kInvalidTopicException;
      case StorageErrc::kInvalidPartitions:
        return ErrorCode::kInvalidPartitions;
      case StorageErrc::kLimitExceeded:
        return ErrorCode::kPolicyViolation;
      case StorageErrc::kIoError:
      case StorageErrc::kDiskFull:
      case StorageErrc::kFenced:
        return ErrorCode::kKafkaStorageError;
      case StorageErrc::kOutOfOrderSequence:
        return ErrorCode::kOutOfOrderSequenceNumber;
      case StorageErrc::kInvalidProducerEpoch:
        return ErrorCode::kInvalidProducerEpoch;
      case StorageErrc::kShuttingDown:
        // Kafka clients retry this one and refresh metadata, which is what a restart needs.
        return ErrorCode::kNotLeaderOrFollower;
    }
  }
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return ErrorCode::kInvalidRequest;
    case absl::StatusCode::kNotFound:
      return ErrorCode::kUnknownTopicOrPartition;
    case absl::StatusCode::kDeadlineExceeded:
      return ErrorCode::kRequestTimedOut;
    case absl::StatusCode::kOutOfRange:
      return ErrorCode::kOffsetOutOfRange;
    case absl::StatusCode::kAlreadyExists:
      return ErrorCode::kTopicAlreadyExists;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
      return ErrorCode::kKafkaStorageError;
    default:
      return ErrorCode::kUnknownServerError;
  }
}

ErrorCode ErrorFor(GroupError e) {
  switch (e) {
    case GroupError::kNone: return ErrorCode::kNone;
    case GroupError::kCoordinatorNotAvailable: return ErrorCode::kCoordinatorNotAvailable;
    case GroupError::kRebalanceInProgress: return ErrorCode::kRebalanceInProgress;
    case GroupError::kIllegalGeneration: return ErrorCode::kIllegalGeneration;
    case GroupError::kUnknownMemberId: return ErrorCode::kUnknownMemberId;
    case GroupError::kInconsistentGroupProtocol: return ErrorCode::kInconsistentGroupProtocol;
    case GroupError::kInvalidSessionTimeout: return ErrorCode::kInvalidSessionTimeout;
    case GroupError::kGroupIdNotFound: return ErrorCode::kGroupIdNotFound;
    case GroupError::kNonEmptyGroup: return ErrorCode::kNonEmptyGroup;
    case GroupError::kInvalidGroupId: return ErrorCode::kInvalidGroupId;
    case GroupError::kMemberIdRequired: return ErrorCode::kMemberIdRequired;
    case GroupError::kStorageError: return ErrorCode::kKafkaStorageError;
  }
  return ErrorCode::kUnknownServerError;
}

ErrorCode DurabilityErrorFor(const absl::Status& s) {
  return s.code() == absl::StatusCode::kDeadlineExceeded ? ErrorCode::kRequestTimedOut
                                                         : ErrorCode::kKafkaStorageError;
}

std::optional<std::string> MessageFor(const absl::Status& s) {
  if (s.ok()) return std::nullopt;
  return std::string(ToStd(s.message()));
}

}  // namespace sluice::broker::kafka
