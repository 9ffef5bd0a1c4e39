// ApiVersions (key 18): the versions of every API in the registry (handlers.cc). The connection
// answers an ApiVersions request at an unsupported version itself (connection.cc), with
// WriteApiVersionsBody at v0.
#include <string_view>

#include "absl/strings/str_cat.h"
#include "broker/kafka/errors.h"
#include "broker/kafka/handler.h"
#include "spdlog/spdlog.h"

namespace sluice::broker::kafka {
namespace {

// Kafka's ApiVersionsRequest.SOFTWARE_NAME_VERSION_PATTERN:
// [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
bool ValidSoftwareField(std::string_view s) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

void WriteApiVersionsBody(Writer& w, int16_t version, int16_t error_code,
                          std::span<const ApiHandler> apis) {
  const bool flexible = version >= 3;
  w.Int16(error_code);
  w.ArrayLength(static_cast<int32_t>(apis.size()), flexible);
  for (const ApiHandler& h : apis) {
    w.Int16(h.key);
    w.Int16(h.min_version);
    w.Int16(h.max_version);
    if (flexible) w.UnsignedVarint(0);  // no tagged fields
  }
  if (version >= 1) w.Int32(0);  // throttle_time_ms: no quotas
  // SupportedFeatures, FinalizedFeatures... are tagged and left out: no feature flags here.
  if (flexible) w.UnsignedVarint(0);
}

asio::awaitable<absl::Status> HandleApiVersions(RequestContext& ctx, Reader& body, Response& resp) {
  std::string name, version;
  if (!DecodeApiVersionsRequest(body, ctx.api_version, &name, &version)) {
    co_return absl::InvalidArgumentError(body.error());
  }
  if (ctx.api_version >= 3) {
    spdlog::debug("kafka {}: client {} {} (client id '{}')", ctx.peer(), name, version,
                  ctx.client_id);
    if (!ValidSoftwareField(name) || !ValidSoftwareField(version)) {
      // As Kafka: INVALID_REQUEST and no API list, the connection stays open.
      WriteApiVersionsBody(resp.body, ctx.api_version, Code(ErrorCode::kInvalidRequest), {});
      co_return absl::OkStatus();
    }
  }
  WriteApiVersionsBody(resp.body, ctx.api_version, Code(ErrorCode::kNone), AllHandlers());
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
