#pragma once
// Early-return helpers for absl::Status / absl::StatusOr (Abseil 20220623 ships none).
//
// Example:
//   absl::StatusOr<int> Parse(std::string_view s);
//   absl::Status Use(std::string_view s) {
//     ASSIGN_OR_RETURN(int v, Parse(s));
//     RETURN_IF_ERROR(Check(v));
//     return absl::OkStatus();
//   }
// The CO_ variants do the same inside coroutines, where a plain `return` is illegal.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SLUICE_CONCAT_INNER(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::absl::Status sluice_status_ = (expr);           \
    if (!sluice_status_.ok()) return sluice_status_;  \
  } while (0)

#define CO_RETURN_IF_ERROR(expr)                         \
  do {                                                   \
    ::absl::Status sluice_status_ = (expr);              \
    if (!sluice_status_.ok()) co_return sluice_status_;  \
  } while (0)

#define SLUICE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr, ret) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) ret std::move(tmp).status();             \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  SLUICE_ASSIGN_OR_RETURN_IMPL(SLUICE_CONCAT(sluice_statusor_, __LINE__), lhs, expr, return)

#define CO_ASSIGN_OR_RETURN(lhs, expr) \
  SLUICE_ASSIGN_OR_RETURN_IMPL(SLUICE_CONCAT(sluice_statusor_, __LINE__), lhs, expr, co_return)
