#include "storage/errors.h"

#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace sluice::storage {
namespace {

constexpr std::string_view kPayloadUrl = "sluice.storage.errc";

absl::StatusCode CodeFor(StorageErrc e) {
  switch (e) {
    case StorageErrc::kCorruptBatch:
    case StorageErrc::kBatchTooLarge:
    case StorageErrc::kInvalidTopic:
    case StorageErrc::kInvalidPartitions:
      return absl::StatusCode::kInvalidArgument;
    case StorageErrc::kOffsetOutOfRange:
      return absl::StatusCode::kOutOfRange;
    case StorageErrc::kUnknownTopic:
      return absl::StatusCode::kNotFound;
    case StorageErrc::kTopicExists:
      return absl::StatusCode::kAlreadyExists;
    case StorageErrc::kIoError:
    case StorageErrc::kShuttingDown:
      return absl::StatusCode::kUnavailable;
    case StorageErrc::kDiskFull:
      return absl::StatusCode::kResourceExhausted;
    case StorageErrc::kFenced:
    case StorageErrc::kLimitExceeded:
    case StorageErrc::kOutOfOrderSequence:
    case StorageErrc::kInvalidProducerEpoch:
      return absl::StatusCode::kFailedPrecondition;
  }
  return absl::StatusCode::kInternal;
}

}  // namespace

absl::Status StorageError(StorageErrc errc, std::string_view message) {
  absl::Status s(CodeFor(errc), absl::string_view(message.data(), message.size()));
  s.SetPayload(absl::string_view(kPayloadUrl.data(), kPayloadUrl.size()), absl::Cord(std::string(1, static_cast<char>(errc))));
  return s;
}

absl::Status ErrnoError(int err, std::string_view what) {
  return StorageError(err == ENOSPC ? StorageErrc::kDiskFull : StorageErrc::kIoError,
                      absl::StrCat(absl::string_view(what.data(), what.size()), ": ", std::strerror(err)));
}

std::optional<StorageErrc> StorageErrcOf(const absl::Status& s) {
  auto p = s.GetPayload(absl::string_view(kPayloadUrl.data(), kPayloadUrl.size()));
  if (!p || p->size() != 1) return std::nullopt;
  return static_cast<StorageErrc>(static_cast<unsigned char>((*p)[0]));
}

std::string_view StorageErrcName(StorageErrc errc) {
  switch (errc) {
    case StorageErrc::kCorruptBatch: return "corrupt_batch";
    case StorageErrc::kBatchTooLarge: return "batch_too_large";
    case StorageErrc::kOffsetOutOfRange: return "offset_out_of_range";
    case StorageErrc::kUnknownTopic: return "unknown_topic";
    case StorageErrc::kTopicExists: return "topic_exists";
    case StorageErrc::kInvalidTopic: return "invalid_topic";
    case StorageErrc::kInvalidPartitions: return "invalid_partitions";
    case StorageErrc::kLimitExceeded: return "limit_exceeded";
    case StorageErrc::kIoError: return "io_error";
    case StorageErrc::kDiskFull: return "disk_full";
    case StorageErrc::kFenced: return "fenced";
    case StorageErrc::kShuttingDown: return "shutting_down";
    case StorageErrc::kOutOfOrderSequence: return "out_of_order_sequence";
    case StorageErrc::kInvalidProducerEpoch: return "invalid_producer_epoch";
  }
  return "unknown";
}

}  // namespace sluice::storage
