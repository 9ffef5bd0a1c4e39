#pragma once
// Storage errors: an absl::Status whose canonical code follows Abseil's guidance and which also
// carries a precise StorageErrc as a payload, so protocol layers map each to exactly one wire code
// (Kafka's CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, ...) in one function per protocol.

#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace sluice::storage {

enum class StorageErrc {
  kCorruptBatch,       // bytes are not a valid RecordBatch v2 (InvalidArgument)
  kBatchTooLarge,      // larger than max.message.bytes (InvalidArgument)
  kOffsetOutOfRange,   // read below log start or above log end (OutOfRange)
  kUnknownTopic,       // no such topic or partition (NotFound)
  kTopicExists,        // create of an existing topic (AlreadyExists)
  kInvalidTopic,       // bad topic name or config (InvalidArgument)
  kInvalidPartitions,  // partition count out of range, or not above the current one (InvalidArgument)
  kLimitExceeded,      // a configured broker limit, e.g. --max-topics (FailedPrecondition)
  kIoError,            // a write/read/sync failed; nothing was acknowledged (Unavailable)
  kDiskFull,           // ENOSPC (ResourceExhausted)
  kFenced,             // an earlier sync/write failure fenced the partition (FailedPrecondition)
  kShuttingDown,       // the log manager is closing (Unavailable)
  // Idempotent producers (storage/producer_state.h), both FailedPrecondition:
  kOutOfOrderSequence,    // sequence does not follow the producer's last (Kafka's code 45)
  kInvalidProducerEpoch,  // epoch older than the producer's current one: fenced (Kafka's 47)
};

absl::Status StorageError(StorageErrc errc, std::string_view message);
// Error for a failed system call: ENOSPC becomes kDiskFull, anything else kIoError.
absl::Status ErrnoError(int err, std::string_view what);
// The StorageErrc attached to `s`, if it came from StorageError().
std::optional<StorageErrc> StorageErrcOf(const absl::Status& s);
std::string_view StorageErrcName(StorageErrc errc);

}  // namespace sluice::storage
