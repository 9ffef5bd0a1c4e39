// Kafka topic handlers: Metadata, CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs.
#include <map>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "broker/kafka/errors.h"
#include "broker/kafka/handler.h"
#include "broker/kafka/handler_util.h"
#include "broker/kafka/kafka_messages.h"
#include "storage/absl_compat.h"
#include "storage/errors.h"
#include "storage/log_config.h"

namespace sluice::broker::kafka {
namespace {

using storage::StorageErrc;

// Kafka's ConfigSource values (DescribeConfigs v1+).
constexpr int8_t kDynamicTopicConfig = 1;
constexpr int8_t kStaticBrokerConfig = 4;
constexpr int8_t kDefaultConfig = 5;
// Kafka's ConfigResource types.
constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;

msg::MetadataResponse::MetadataResponseTopic TopicMetadata(RequestContext& ctx,
                                                           const storage::TopicInfo& info) {
  msg::MetadataResponse::MetadataResponseTopic t;
  t.name = info.name;
  t.error_code = Code(ErrorCode::kNone);
  const int32_t node = ctx.broker.config.node_id;
  for (int32_t p = 0; p < info.partition_count; ++p) {
    msg::MetadataResponse::MetadataResponseTopic::MetadataResponsePartition pm;
    pm.error_code = Code(ErrorCode::kNone);
    pm.partition_index = p;
    pm.leader_id = node;
    // One node, no leader elections: no epochs to report (-1 = unknown, clients skip fencing).
    pm.leader_epoch = -1;
    pm.replica_nodes = {node};
    pm.isr_nodes = {node};
    t.partitions.push_back(std::move(pm));
  }
  return t;
}

msg::MetadataResponse::MetadataResponseTopic TopicError(const std::string& name, ErrorCode e) {
  msg::MetadataResponse::MetadataResponseTopic t;
  t.name = name;
  t.error_code = Code(e);
  return t;
}

// Topic configs a Kafka client may send that need no storage setting: Sluice only deletes by
// retention, so "cleanup.policy=delete" is what it does anyway. Compaction is refused.
absl::Status ApplyTopicConfig(storage::meta::TopicConfig* overrides, const std::string& name,
                              const std::optional<std::string>& value) {
  if (!value) return absl::OkStatus();  // null = the default
  if (name == "cleanup.policy") {
    if (*value == "delete") return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("cleanup.policy=", *value, " is not supported (log compaction is not "
                                                "implemented); only 'delete'"));
  }
  return storage::SetTopicConfig(overrides, name, *value);
}

// The overridden config names of a topic: the fields set in its TopicConfig, whose names are
// the config names with '.' spelled '_' (segment_bytes -> segment.bytes).
std::set<std::string> OverriddenConfigs(const storage::TopicInfo& info) {
  std::vector<const google::protobuf::FieldDescriptor*> set;
  info.overrides.GetReflection()->ListFields(info.overrides, &set);
  std::set<std::string> out;
  for (const auto* f : set) out.insert(absl::StrReplaceAll(f->name(), {{"_", "."}}));
  return out;
}

// The broker-level name Kafka gives a topic config's default (segment.ms -> log.roll.ms).
std::string BrokerConfigName(const std::string& topic_config) {
  if (topic_config == "segment.ms") return "log.roll.ms";
  if (topic_config == "flush.messages") return "log.flush.interval.messages";
  if (topic_config == "flush.ms") return "log.flush.interval.ms";
  return "log." + topic_config;
}

bool Wanted(const std::optional<std::vector<std::string>>& keys, const std::string& name) {
  if (!keys || keys->empty()) return true;
  for (const auto& k : *keys) {
    if (k == name) return true;
  }
  return false;
}

}  // namespace

asio::awaitable<absl::Status> HandleMetadata(RequestContext& ctx, Reader& body, Response& resp) {
  msg::MetadataRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::MetadataResponse out;
  const BrokerAddress self = SelfAddress(ctx);
  msg::MetadataResponse::MetadataResponseBroker b;
  b.node_id = ctx.broker.config.node_id;
  b.host = self.host;
  b.port = self.port;
  out.brokers.push_back(std::move(b));
  out.cluster_id = std::string(kClusterId);
  out.controller_id = ctx.broker.config.node_id;

  // v0: an empty list means every topic; v1+: null means every topic, empty means none.
  const bool all = !req.topics || (ctx.api_version == 0 && req.topics->empty());
  if (all) {
    for (const storage::TopicInfo& info : ctx.broker.logs.ListTopics()) {
      out.topics.push_back(TopicMetadata(ctx, info));
    }
  } else {
    // v0-3 have no allow flag: Kafka auto-creates for them whenever the broker allows it.
    const bool create = req.allow_auto_topic_creation && ctx.broker.config.auto_create_topics;
    // One answer per distinct name, as Kafka gives (a request naming a topic many times must
    // not get a response many times its size).
    absl::flat_hash_set<std::string_view> seen;
    for (const auto& requested : *req.topics) {
      const std::string& name = requested.name;
      if (!seen.insert(name).second) continue;
      if (!storage::LogManager::ValidateTopicName(name).ok()) {
        out.topics.push_back(TopicError(name, ErrorCode::kInvalidTopicException));
        continue;
      }
      auto info = ctx.broker.logs.DescribeTopic(name);
      if (!info.ok() && create &&
          storage::StorageErrcOf(info.status()) == StorageErrc::kUnknownTopic) {
        absl::Status s = co_await ctx.broker.topics.AutoCreate(name);
        if (s.ok()) {
          info = ctx.broker.logs.DescribeTopic(name);
        } else {
          info = s;
        }
      }
      if (!info.ok()) {
        out.topics.push_back(TopicError(name, ErrorFor(info.status())));
        continue;
      }
      out.topics.push_back(TopicMetadata(ctx, *info));
    }
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleCreateTopics(RequestContext& ctx, Reader& body,
                                                 Response& resp) {
  msg::CreateTopicsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::CreateTopicsResponse out;
  const int32_t node = ctx.broker.config.node_id;
  std::map<std::string, int> seen;
  for (const auto& t : req.topics) ++seen[t.name];
  for (const auto& t : req.topics) {
    msg::CreateTopicsResponse::CreatableTopicResult r;
    r.name = t.name;
    auto fail = [&](ErrorCode e, std::string message) {
      r.error_code = Code(e);
      r.error_message = std::move(message);
      out.topics.push_back(std::move(r));
    };
    if (seen[t.name] > 1) {
      fail(ErrorCode::kInvalidRequest, "the topic is named more than once in the request");
      continue;
    }
    // A single node holds one copy: replication factor -1 (the default) or 1.
    if (t.replication_factor != -1 && t.replication_factor != 1) {
      fail(ErrorCode::kInvalidReplicationFactor,
           absl::StrCat("replication factor ", t.replication_factor,
                        " is more than the 1 broker of this cluster"));
      continue;
    }
    int32_t partitions = t.num_partitions;
    if (!t.assignments.empty()) {
      bool valid = partitions == -1;
      for (size_t i = 0; i < t.assignments.size() && valid; ++i) {
        const auto& a = t.assignments[i];
        valid = a.partition_index == static_cast<int32_t>(i) && a.broker_ids.size() == 1 &&
                a.broker_ids[0] == node;
      }
      if (!valid) {
        fail(ErrorCode::kInvalidReplicaAssignment,
             absl::StrCat("assignments must name partitions 0..n-1, each on broker ", node,
                          ", with num_partitions -1"));
        continue;
      }
      partitions = static_cast<int32_t>(t.assignments.size());
    }
    if (partitions == 0 || partitions < -1) {
      fail(ErrorCode::kInvalidPartitions,
           absl::StrCat("partition count ", partitions, " must be positive (or -1: default)"));
      continue;
    }
    storage::meta::TopicConfig overrides;
    absl::Status s;
    for (const auto& c : t.configs) {
      s = ApplyTopicConfig(&overrides, c.name, c.value);
      if (!s.ok()) break;
    }
    if (!s.ok()) {
      fail(ErrorCode::kInvalidConfig, std::string(ToStd(s.message())));
      continue;
    }
    s = co_await ctx.broker.topics.Create(t.name, partitions, std::move(overrides),
                                          req.validate_only);
    if (!s.ok()) {
      fail(ErrorFor(s), std::string(ToStd(s.message())));
      continue;
    }
    r.error_code = Code(ErrorCode::kNone);
    out.topics.push_back(std::move(r));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleDeleteTopics(RequestContext& ctx, Reader& body,
                                                 Response& resp) {
  msg::DeleteTopicsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::DeleteTopicsResponse out;
  for (const std::string& name : req.topic_names) {
    msg::DeleteTopicsResponse::DeletableTopicResult r;
    r.name = name;
    absl::Status s = co_await ctx.broker.topics.Delete(name);
    r.error_code = Code(ErrorFor(s));
    out.responses.push_back(std::move(r));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleCreatePartitions(RequestContext& ctx, Reader& body,
                                                     Response& resp) {
  msg::CreatePartitionsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::CreatePartitionsResponse out;
  const int32_t node = ctx.broker.config.node_id;
  for (const auto& t : req.topics) {
    msg::CreatePartitionsResponse::CreatePartitionsTopicResult r;
    r.name = t.name;
    bool assignments_ok = true;
    if (t.assignments) {
      for (const auto& a : *t.assignments) {
        assignments_ok = assignments_ok && a.broker_ids.size() == 1 && a.broker_ids[0] == node;
      }
    }
    if (!assignments_ok) {
      r.error_code = Code(ErrorCode::kInvalidReplicaAssignment);
      r.error_message = absl::StrCat("every new partition must be on broker ", node);
      out.results.push_back(std::move(r));
      continue;
    }
    absl::Status s = co_await ctx.broker.topics.AddPartitions(t.name, t.count, req.validate_only);
    r.error_code = Code(ErrorFor(s));
    r.error_message = MessageFor(s);
    out.results.push_back(std::move(r));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> HandleDescribeConfigs(RequestContext& ctx, Reader& body,
                                                    Response& resp) {
  msg::DescribeConfigsRequest req;
  if (!req.Decode(body, ctx.api_version)) co_return absl::InvalidArgumentError(body.error());
  msg::DescribeConfigsResponse out;
  using Result = msg::DescribeConfigsResponse::DescribeConfigsResult;
  using Entry = Result::DescribeConfigsResourceResult;
  auto entry = [&](const std::string& name, const std::string& value, int8_t source,
                   bool read_only) {
    Entry e;
    e.name = name;
    e.value = value;
    e.read_only = read_only;
    e.is_default = source == kDefaultConfig;
    e.config_source = source;
    e.is_sensitive = false;
    return e;
  };
  for (const auto& res : req.resources) {
    Result r;
    r.resource_type = res.resource_type;
    r.resource_name = res.resource_name;
    r.error_code = Code(ErrorCode::kNone);
    if (res.resource_type == kTopicResource) {
      auto info = ctx.broker.logs.DescribeTopic(res.resource_name);
      if (!info.ok()) {
        r.error_code = Code(ErrorFor(info.status()));
        r.error_message = MessageFor(info.status());
      } else {
        const std::set<std::string> overridden = OverriddenConfigs(*info);
        for (const auto& [k, v] : storage::DescribeConfig(info->config)) {
          if (!Wanted(res.configuration_keys, k)) continue;
          r.configs.push_back(
              entry(k, v, overridden.count(k) ? kDynamicTopicConfig : kDefaultConfig, false));
        }
        if (Wanted(res.configuration_keys, "cleanup.policy")) {
          r.configs.push_back(entry("cleanup.policy", "delete", kDefaultConfig, true));
        }
      }
    } else if (res.resource_type == kBrokerResource) {
      if (!res.resource_name.empty() &&
          res.resource_name != std::to_string(ctx.broker.config.node_id)) {
        r.error_code = Code(ErrorCode::kInvalidRequest);
        r.error_message = absl::StrCat("no broker ", res.resource_name, " in this cluster");
      } else {
        const BrokerConfig& c = ctx.broker.config;
        std::vector<std::pair<std::string, std::string>> configs = {
            {"broker.id", std::to_string(c.node_id)},
            {"num.partitions", std::to_string(c.num_partitions)},
            {"auto.create.topics.enable", c.auto_create_topics ? "true" : "false"},
            {"message.max.bytes", std::to_string(c.log.max_message_bytes)},
            {"connections.max.idle.ms", std::to_string(c.idle_timeout_ms)},
            {"group.min.session.timeout.ms", std::to_string(c.group_min_session_timeout_ms)},
            {"group.max.session.timeout.ms", std::to_string(c.group_max_session_timeout_ms)},
            {"group.initial.rebalance.delay.ms",
             std::to_string(c.group_initial_rebalance_delay_ms)},
        };
        // The broker-wide topic defaults under their log.* names, as Kafka lists them.
        for (const auto& [k, v] : storage::DescribeConfig(c.log)) {
          if (k == "max.message.bytes") continue;  // message.max.bytes above
          configs.emplace_back(BrokerConfigName(k), v);
        }
        for (const auto& [k, v] : configs) {
          if (Wanted(res.configuration_keys, k)) {
            r.configs.push_back(entry(k, v, kStaticBrokerConfig, true));
          }
        }
      }
    } else {
      r.error_code = Code(ErrorCode::kInvalidRequest);
      r.error_message = absl::StrCat("resource type ", res.resource_type,
                                     " is not supported (2 = topic, 4 = broker)");
    }
    out.results.push_back(std::move(r));
  }
  out.Encode(resp.body, ctx.api_version);
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::kafka
