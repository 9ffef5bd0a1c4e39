// The registry of Kafka APIs this broker serves: dispatch, request header versions, metrics and
// the ApiVersions response are all built from kHandlers.
#include <array>
#include <string>

#include "broker/kafka/handler.h"
#include "broker/kafka/kafka_messages.h"

namespace sluice::broker::kafka {
namespace {

// The one list of served APIs, in API key order. Adding an API is one row here (and the handler's
// declaration in handler.h). Rows from a generated request struct: Api<msg::XRequest>(name, fn).
constexpr ApiHandler kHandlers[] = {
    Api<msg::ProduceRequest>("produce", &HandleProduce),
    Api<msg::FetchRequest>("fetch", &HandleFetch),
    Api<msg::ListOffsetsRequest>("list_offsets", &HandleListOffsets),
    Api<msg::MetadataRequest>("metadata", &HandleMetadata),
    Api<msg::OffsetCommitRequest>("offset_commit", &HandleOffsetCommit),
    Api<msg::OffsetFetchRequest>("offset_fetch", &HandleOffsetFetch),
    Api<msg::FindCoordinatorRequest>("find_coordinator", &HandleFindCoordinator),
    Api<msg::JoinGroupRequest>("join_group", &HandleJoinGroup),
    Api<msg::HeartbeatRequest>("heartbeat", &HandleHeartbeat),
    Api<msg::LeaveGroupRequest>("leave_group", &HandleLeaveGroup),
    Api<msg::SyncGroupRequest>("sync_group", &HandleSyncGroup),
    Api<msg::DescribeGroupsRequest>("describe_groups", &HandleDescribeGroups),
    Api<msg::ListGroupsRequest>("list_groups", &HandleListGroups),
    {kApiVersionsKey, "api_versions", 0, 3, 3, &HandleApiVersions,
     [](Reader& body, int16_t version) {
       std::string name, software_version;
       return DecodeApiVersionsRequest(body, version, &name, &software_version);
     }},
    Api<msg::CreateTopicsRequest>("create_topics", &HandleCreateTopics),
    Api<msg::DeleteTopicsRequest>("delete_topics", &HandleDeleteTopics),
    Api<msg::DeleteRecordsRequest>("delete_records", &HandleDeleteRecords),
    Api<msg::InitProducerIdRequest>("init_producer_id", &HandleInitProducerId),
    Api<msg::OffsetForLeaderEpochRequest>("offset_for_leader_epoch", &HandleOffsetForLeaderEpoch),
    Api<msg::DescribeConfigsRequest>("describe_configs", &HandleDescribeConfigs),
    Api<msg::CreatePartitionsRequest>("create_partitions", &HandleCreatePartitions),
    Api<msg::DeleteGroupsRequest>("delete_groups", &HandleDeleteGroups),
};

constexpr size_t kMaxKey = Metrics::kMaxKafkaApis;

constexpr bool Valid() {
  int prev = -1;
  for (const ApiHandler& h : kHandlers) {
    if (h.key <= prev || h.key >= static_cast<int>(kMaxKey)) return false;
    if (h.min_version < 0 || h.min_version > h.max_version) return false;
    if (h.fn == nullptr || h.decode == nullptr) return false;
    prev = h.key;
  }
  return true;
}
static_assert(Valid(), "kHandlers: keys ascending, unique, below Metrics::kMaxKafkaApis; "
                       "0 <= min_version <= max_version; fn and decode set");

constexpr auto kByKey = [] {
  std::array<const ApiHandler*, kMaxKey> t{};
  for (const ApiHandler& h : kHandlers) t[static_cast<size_t>(h.key)] = &h;
  return t;
}();

}  // namespace

std::span<const ApiHandler> AllHandlers() { return kHandlers; }

const ApiHandler* FindHandler(int16_t key) {
  if (key < 0 || static_cast<size_t>(key) >= kByKey.size()) return nullptr;
  return kByKey[static_cast<size_t>(key)];
}

void RegisterApiMetrics(Metrics& m) {
  for (const ApiHandler& h : kHandlers) m.RegisterKafkaApi(h.key, h.name);
}

void SkipTaggedFields(Reader& r) {
  const uint32_t n = r.UnsignedVarint();
  // Each field takes at least two bytes, so a hostile count fails the reader, not the loop.
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.UnsignedVarint();  // tag
    r.Take(r.UnsignedVarint());
  }
}

bool DecodeApiVersionsRequest(Reader& body, int16_t version, std::string* software_name,
                              std::string* software_version) {
  if (version >= 3) {
    *software_name = body.CompactString();
    *software_version = body.CompactString();
    SkipTaggedFields(body);
  }
  return body.ok();
}

}  // namespace sluice::broker::kafka
