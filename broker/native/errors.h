#pragma once
// The one place internal errors become native ErrorCodes: storage errors (by their StorageErrc,
// falling back to the canonical code) and group coordinator errors. Handlers never pick codes.

#include "absl/status/status.h"
#include "broker/group/coordinator.h"
#include "proto/native.pb.h"

namespace sluice::broker::native {

::sluice::native::ErrorCode ErrorCodeFor(const absl::Status& s);
::sluice::native::ErrorCode ErrorCodeFor(GroupError e);

// Fills `out` from `s` (code NONE and no message when OK).
void SetError(::sluice::native::Error* out, const absl::Status& s);
void SetError(::sluice::native::Error* out, GroupError e);
// A topic config that storage::SetTopicConfig rejected: INVALID_CONFIG.
void SetConfigError(::sluice::native::Error* out, const absl::Status& s);
// A produce whose data could not be made durable: REQUEST_TIMED_OUT if the wait timed out
// (DeadlineExceeded), STORAGE_ERROR for every other failure. Never NONE.
void SetDurabilityError(::sluice::native::Error* out, const absl::Status& s);
// For conditions the broker detects itself (bad request fields).
void SetError(::sluice::native::Error* out, ::sluice::native::ErrorCode code, std::string message);

}  // namespace sluice::broker::native
