#pragma once
// Kafka error codes and the one place internal errors become them: storage errors (by their
// StorageErrc, falling back to the canonical code) and group coordinator errors. Handlers never
// pick codes for internal failures; they use ErrorFor() and the durability variant.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "broker/group/coordinator.h"

namespace sluice::broker::kafka {

// Values from Kafka's protocol (org.apache.kafka.common.protocol.Errors).
enum class ErrorCode : int16_t {
  kUnknownServerError = -1,
  kNone = 0,
  kOffsetOutOfRange = 1,
  kCorruptMessage = 2,
  kUnknownTopicOrPartition = 3,
  kLeaderNotAvailable = 5,
  kNotLeaderOrFollower = 6,
  kRequestTimedOut = 7,
  kMessageTooLarge = 10,
  kOffsetMetadataTooLarge = 12,
  kCoordinatorLoadInProgress = 14,
  kCoordinatorNotAvailable = 15,
  kNotCoordinator = 16,
  kInvalidTopicException = 17,
  kRecordListTooLarge = 18,
  kInvalidRequiredAcks = 21,
  kIllegalGeneration = 22,
  kInconsistentGroupProtocol = 23,
  kInvalidGroupId = 24,
  kUnknownMemberId = 25,
  kInvalidSessionTimeout = 26,
  kRebalanceInProgress = 27,
  kInvalidTimestamp = 32,
  kUnsupportedVersion = 35,
  kTopicAlreadyExists = 36,
  kInvalidPartitions = 37,
  kInvalidReplicationFactor = 38,
  kInvalidReplicaAssignment = 39,
  kInvalidConfig = 40,
  kInvalidRequest = 42,
  kUnsupportedForMessageFormat = 43,
  kPolicyViolation = 44,
  kOutOfOrderSequenceNumber = 45,
  kDuplicateSequenceNumber = 46,
  kInvalidProducerEpoch = 47,
  kInvalidTxnState = 48,
  kInvalidProducerIdMapping = 49,
  kInvalidTransactionTimeout = 50,
  kTransactionalIdAuthorizationFailed = 53,
  kKafkaStorageError = 56,
  kUnknownProducerId = 59,
  kNonEmptyGroup = 68,
  kGroupIdNotFound = 69,
  kFencedLeaderEpoch = 74,
  kUnknownLeaderEpoch = 75,
  kUnsupportedCompressionType = 76,
  kOffsetNotAvailable = 78,
  kMemberIdRequired = 79,
  kGroupMaxSizeReached = 81,
  kFencedInstanceId = 82,
  kInvalidRecord = 87,
  kProducerFenced = 90,
  kResourceNotFound = 91,
};

constexpr int16_t Code(ErrorCode e) { return static_cast<int16_t>(e); }
std::string_view ErrorName(ErrorCode e);

// Storage (and generic) failures. OK -> kNone.
ErrorCode ErrorFor(const absl::Status& s);
// Group coordinator results.
ErrorCode ErrorFor(GroupError e);
// A produce whose data could not be made durable: REQUEST_TIMED_OUT if the wait timed out,
// KAFKA_STORAGE_ERROR for every other failure. Never kNone.
ErrorCode DurabilityErrorFor(const absl::Status& s);
// An error message for the response's message field where the API has one: nullopt for OK.
std::optional<std::string> MessageFor(const absl::Status& s);

}  // namespace sluice::broker::kafka
