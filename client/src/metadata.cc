#include "client/src/metadata.h"

#include "absl/strings/str_cat.h"
#include "client/src/errors.h"

namespace sluice::client {

void MetadataCache::Update(const native::MetadataResponse& response, Clock::time_point now) {
  for (const auto& b : response.brokers()) {
    brokers_[b.node_id()] =
        b.host().empty() ? std::string() : absl::StrCat(b.host(), ":", b.port());
  }
  for (const auto& t : response.topics()) {
    TopicInfo info;
    info.error = FromNative(t.error(), absl::StrCat("metadata of topic '", t.name(), "'"));
    for (const auto& p : t.partitions()) {
      if (p.partition() < 0) continue;
      if (static_cast<size_t>(p.partition()) >= info.partitions.size()) {
        info.partitions.resize(p.partition() + 1);
      }
      PartitionInfo& pi = info.partitions[p.partition()];
      pi.partition = p.partition();
      pi.leader = p.leader();
      pi.log_start_offset = p.log_start_offset();
      pi.high_watermark = p.high_watermark();
    }
    topics_[t.name()] = std::move(info);
  }
  last_update_ = now;
}

const TopicInfo* MetadataCache::Find(std::string_view topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end() ? nullptr : &it->second;
}

int32_t MetadataCache::PartitionCount(std::string_view topic) const {
  const TopicInfo* t = Find(topic);
  if (t == nullptr || !t->error.ok()) return 0;
  return static_cast<int32_t>(t->partitions.size());
}

std::string MetadataCache::BrokerAddress(int32_t node_id) const {
  auto it = brokers_.find(node_id);
  return it == brokers_.end() ? std::string() : it->second;
}

std::vector<std::string> MetadataCache::Topics() const {
  std::vector<std::string> out;
  for (const auto& [name, info] : topics_) out.push_back(name);
  return out;
}

native::RequestHeader MetadataRequest(const std::vector<std::string>& topics,
                                      bool allow_auto_create) {
  native::RequestHeader h;
  auto* m = h.mutable_metadata();
  for (const auto& t : topics) m->add_topics(t);
  m->set_allow_auto_create(allow_auto_create);
  return h;
}

asio::awaitable<absl::StatusOr<native::MetadataResponse>> FetchMetadata(
    Connection& connection, std::vector<std::string> topics, bool allow_auto_create,
    std::chrono::milliseconds timeout) {
  auto r = co_await connection.Call(MetadataRequest(topics, allow_auto_create), timeout);
  if (!r.ok()) co_return r.status();
  if (!r->header.has_metadata()) {
    co_return absl::DataLossError("metadata request answered without a metadata response");
  }
  co_return std::move(*r->header.mutable_metadata());
}

}  // namespace sluice::client
