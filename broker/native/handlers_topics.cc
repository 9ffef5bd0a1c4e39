// Topic handlers: Metadata, CreateTopics, DeleteTopics, DescribeConfigs.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "broker/native/errors.h"
#include "broker/native/handler.h"
#include "storage/errors.h"
#include "storage/log_config.h"

namespace sluice::broker::native {
namespace {

// LogManager's default per-topic partition limit (the broker does not change it).

void FillTopicMetadata(RequestContext& ctx, const storage::TopicInfo& info, pb::TopicMetadata* t) {
  t->mutable_error()->set_code(pb::NONE);
  for (int32_t p = 0; p < info.partition_count; ++p) {
    auto* pm = t->add_partitions();
    pm->set_partition(p);
    pm->set_leader(ctx.broker.config.node_id);
    auto log = ctx.broker.logs.GetPartition(info.name, PartitionId(p));
    if (!log.ok()) {  // deleted meanwhile
      pm->set_log_start_offset(-1);
      pm->set_high_watermark(-1);
      continue;
    }
    pm->set_log_start_offset((*log)->log_start_offset().value());
    pm->set_high_watermark((*log)->high_watermark().value());
  }
}

}  // namespace

asio::awaitable<void> HandleMetadata(RequestContext& ctx, pb::RequestHeader& req, Response& resp) {
  const pb::MetadataRequest& m = req.metadata();
  auto* out = resp.header.mutable_metadata();
  FillSelfBroker(ctx, out->add_brokers());
  out->set_controller_id(ctx.broker.config.node_id);
  if (m.topics().empty()) {
    for (const storage::TopicInfo& info : ctx.broker.logs.ListTopics()) {
      auto* t = out->add_topics();
      t->set_name(info.name);
      FillTopicMetadata(ctx, info, t);
    }
    co_return;
  }
  const bool create = m.allow_auto_create() && ctx.broker.config.auto_create_topics;
  for (const std::string& name : m.topics()) {
    auto* t = out->add_topics();
    t->set_name(name);
    absl::Status valid = storage::LogManager::ValidateTopicName(name);
    if (!valid.ok()) {
      SetError(t->mutable_error(), valid);
      continue;
    }
    auto info = ctx.broker.logs.DescribeTopic(name);
    if (!info.ok() && create &&
        storage::StorageErrcOf(info.status()) == storage::StorageErrc::kUnknownTopic) {
      absl::Status s = co_await ctx.broker.topics.AutoCreate(name);
      info = s.ok() ? ctx.broker.logs.DescribeTopic(name) : absl::StatusOr<storage::TopicInfo>(s);
    }
    if (!info.ok()) {
      SetError(t->mutable_error(), info.status());
      continue;
    }
    FillTopicMetadata(ctx, *info, t);
  }
}

asio::awaitable<void> HandleCreateTopics(RequestContext& ctx, pb::RequestHeader& req,
                                         Response& resp) {
  const pb::CreateTopicsRequest& c = req.create_topics();
  auto* out = resp.header.mutable_create_topics();
  for (const auto& topic : c.topics()) {
    auto* r = out->add_topics();
    r->set_name(topic.name());
    storage::meta::TopicConfig overrides;
    absl::Status s;
    // Sorted, so the first bad config reported does not depend on map order.
    std::map<std::string, std::string> configs(topic.configs().begin(), topic.configs().end());
    for (const auto& [name, value] : configs) {
      s = storage::SetTopicConfig(&overrides, name, value);
      if (!s.ok()) break;
    }
    if (!s.ok()) {
      SetConfigError(r->mutable_error(), s);
      continue;
    }
    s = co_await ctx.broker.topics.Create(topic.name(), topic.partitions(), std::move(overrides),
                                          c.validate_only());
    SetError(r->mutable_error(), s);
  }
}

asio::awaitable<void> HandleDeleteTopics(RequestContext& ctx, pb::RequestHeader& req,
                                         Response& resp) {
  auto* out = resp.header.mutable_delete_topics();
  for (const std::string& name : req.delete_topics().topics()) {
    auto* r = out->add_topics();
    r->set_name(name);
    absl::Status s = co_await ctx.broker.topics.Delete(name);
    SetError(r->mutable_error(), s);
  }
}

asio::awaitable<void> HandleDescribeConfigs(RequestContext& ctx, pb::RequestHeader& req,
                                            Response& resp) {
  auto* out = resp.header.mutable_describe_configs();
  for (const std::string& name : req.describe_configs().topics()) {
    auto* t = out->add_topics();
    t->set_name(name);
    auto info = ctx.broker.logs.DescribeTopic(name);
    SetError(t->mutable_error(), info.status());
    if (!info.ok()) continue;
    for (const auto& [k, v] : storage::DescribeConfig(info->config)) (*t->mutable_configs())[k] = v;
    // Overrides are the fields set in the topic's TopicConfig; field names are the config names
    // with '.' spelled '_' (segment_bytes -> segment.bytes).
    std::vector<const google::protobuf::FieldDescriptor*> set;
    info->overrides.GetReflection()->ListFields(info->overrides, &set);
    for (const auto* f : set) t->add_overridden(absl::StrReplaceAll(f->name(), {{"_", "."}}));
  }
  co_return;
}

}  // namespace sluice::broker::native
