#pragma once
// The one place native protocol errors become absl::Status, and the retry policy that follows
// from them. Codes follow Abseil's guidance: Unavailable means "retry the call", Aborted "retry
// higher up" (rejoin the group), FailedPrecondition "fix state first". The native code rides
// along as a payload so internal callers can branch on the exact code.

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "proto/native.pb.h"

namespace sluice::client {

// OK for NONE; otherwise a status whose message reads "<context>: <CODE>: <broker message or a
// description of the code>" and which carries `code` (see NativeCodeOf).
absl::Status FromNative(native::ErrorCode code, std::string_view broker_message,
                        std::string_view context);
inline absl::Status FromNative(const native::Error& e, std::string_view context) {
  return FromNative(e.code(), e.message(), context);
}

// The native code attached by FromNative, if any.
std::optional<native::ErrorCode> NativeCodeOf(const absl::Status& s);

// Whether a produce/fetch that failed with `s` may succeed if sent again unchanged: transport
// failures, timeouts and the broker's transient errors.
bool IsRetriable(const absl::Status& s);

}  // namespace sluice::client
