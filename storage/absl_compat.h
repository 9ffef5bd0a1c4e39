#pragma once
// Bridges for Debian's Abseil 20220623, whose absl::string_view is its own type rather than
// std::string_view: conversions both ways and an fmt formatter so spdlog can print
// absl::Status::message().

#include <string_view>

#include "absl/strings/string_view.h"
#include "fmt/format.h"

namespace sluice {

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace sluice

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};
