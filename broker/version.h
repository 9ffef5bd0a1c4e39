#pragma once
// The broker's release version, reported by ApiVersions and `sluiced --version`.

namespace sluice::broker {
inline constexpr char kBrokerVersion[] = "0.1.0";
}  // namespace sluice::broker
