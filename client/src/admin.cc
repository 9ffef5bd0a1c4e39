// sluice::Admin: each call builds a request, runs it on the io thread over the shared bootstrap
// connection and decodes the response on the caller's thread.

#include "sluice/admin.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "client/src/connection.h"
#include "client/src/consumer_protocol.h"
#include "client/src/errors.h"
#include "client/src/io_thread.h"
#include "client/src/metadata.h"

namespace sluice {

using client::Connection;
using client::ConnectionPool;
using client::FromNative;
using client::Response;

// Owns the io thread (declared first) and the connections, which only the io thread touches.
class Admin::Impl {
 public:
  explicit Impl(AdminConfig config)
      : config_(std::move(config)),
        io_("sluice-admin"),
        connections_(std::make_shared<ConnectionPool>(io_.executor(), config_.bootstrap_servers,
                                                      client::ConnectionOptions::From(config_))) {}
  ~Impl() { Close(); }

  absl::StatusOr<Response> Call(native::RequestHeader header) {
    std::lock_guard lock(mu_);
    if (closed_) return absl::FailedPreconditionError("the admin client is closed");
    return io_.Await(Run(connections_, std::move(header), config_.request_timeout),
                     config_.request_timeout + std::chrono::seconds(5));
  }

  void Close() {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    asio::post(io_.executor(), [c = connections_] { c->CloseAll(); });
    io_.Stop();
  }

 private:
  static asio::awaitable<absl::StatusOr<Response>> Run(std::shared_ptr<ConnectionPool> pool,
                                                       native::RequestHeader header,
                                                       std::chrono::milliseconds timeout) {
    auto connection = pool->Bootstrap();
    co_return co_await connection->Call(std::move(header), timeout);
  }

  const AdminConfig config_;
  client::IoThread io_;
  std::shared_ptr<ConnectionPool> connections_;
  std::mutex mu_;  // serializes Close() against calls
  bool closed_ = false;
};

namespace {

absl::Status Missing(std::string_view what) {
  return absl::DataLossError(absl::StrCat(
      "the broker answered without a ", absl::string_view(what.data(), what.size()), " response"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Admin>> Admin::Create(AdminConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::unique_ptr<Admin>(new Admin(std::make_unique<Impl>(std::move(config))));
}

Admin::Admin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Admin::~Admin() = default;
void Admin::Close() { impl_->Close(); }

absl::Status Admin::CreateTopic(const std::string& name, int32_t partitions,
                                std::map<std::string, std::string> configs) {
  auto r = CreateTopics({NewTopic{name, partitions, std::move(configs)}});
  if (!r.ok()) return r.status();
  auto it = r->find(name);
  return it == r->end() ? Missing("per-topic create") : it->second;
}

absl::StatusOr<std::map<std::string, absl::Status>> Admin::CreateTopics(
    const std::vector<NewTopic>& topics, bool validate_only) {
  native::RequestHeader h;
  auto* req = h.mutable_create_topics();
  req->set_validate_only(validate_only);
  for (const auto& t : topics) {
    auto* nt = req->add_topics();
    nt->set_name(t.name);
    nt->set_partitions(t.partitions);
    nt->mutable_configs()->insert(t.configs.begin(), t.configs.end());
  }
  auto r = impl_->Call(std::move(h));
  if (!r.ok()) return r.status();
  if (!r->header.has_create_topics()) return Missing("create topics");
  std::map<std::string, absl::Status> out;
  for (const auto& t : r->header.create_topics().topics()) {
    out[t.name()] = FromNative(t.error(), absl::StrCat("create topic '", t.name(), "'"));
  }
  return out;
}

absl::Status Admin::DeleteTopic(const std::string& name) {
  auto r = DeleteTopics({name});
  if (!r.ok()) return r.status();
  auto it = r->find(name);
  return it == r->end() ? Missing("per-topic delete") : it->second;
}

absl::StatusOr<std::map<std::string, absl::Status>> Admin::DeleteTopics(
    const std::vector<std::string>& names) {
  native::RequestHeader h;
  for (const auto& n : names) h.mutable_delete_topics()->add_topics(n);
  auto r = impl_->Call(std::move(h));
  if (!r.ok()) return r.status();
  if (!r->header.has_delete_topics()) return Missing("delete topics");
  std::map<std::string, absl::Status> out;
  for (const auto& t : r->header.delete_topics().topics()) {
    out[t.name()] = FromNative(t.error(), absl::StrCat("delete topic '", t.name(), "'"));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Admin::ListTopics() {
  auto r =
      impl_->Call(client::MetadataRequest(std::vector<std::string>(), /*allow_auto_create=*/false));
  if (!r.ok()) return r.status();
  if (!r->header.has_metadata()) return Missing("metadata");
  std::vector<std::string> out;
  for (const auto& t : r->header.metadata().topics()) {
    if (t.error().code() == native::NONE) out.push_back(t.name());
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<TopicDescription>> Admin::DescribeTopics(
    const std::vector<std::string>& names) {
  if (names.empty()) return std::vector<TopicDescription>{};
  auto r = impl_->Call(client::MetadataRequest(names, /*allow_auto_create=*/false));
  if (!r.ok()) return r.status();
  if (!r->header.has_metadata()) return Missing("metadata");
  std::vector<TopicDescription> out;
  for (const auto& t : r->header.metadata().topics()) {
    if (t.error().code() != native::NONE) {
      return FromNative(t.error(), absl::StrCat("describe topic '", t.name(), "'"));
    }
    TopicDescription d;
    d.name = t.name();
    for (const auto& p : t.partitions()) {
      d.partitions.push_back({p.partition(), p.leader(), p.log_start_offset(), p.high_watermark()});
    }
    std::sort(d.partitions.begin(), d.partitions.end(),
              [](const auto& a, const auto& b) { return a.partition < b.partition; });
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<TopicConfig> Admin::DescribeConfigs(const std::string& topic) {
  native::RequestHeader h;
  h.mutable_describe_configs()->add_topics(topic);
  auto r = impl_->Call(std::move(h));
  if (!r.ok()) return r.status();
  if (!r->header.has_describe_configs()) return Missing("describe configs");
  for (const auto& t : r->header.describe_configs().topics()) {
    if (t.name() != topic) continue;
    if (t.error().code() != native::NONE) {
      return FromNative(t.error(), absl::StrCat("describe configs of '", topic, "'"));
    }
    TopicConfig c;
    c.name = t.name();
    c.configs.insert(t.configs().begin(), t.configs().end());
    c.overridden.insert(t.overridden().begin(), t.overridden().end());
    return c;
  }
  return Missing("per-topic describe configs");
}

absl::StatusOr<std::vector<GroupListing>> Admin::ListGroups() {
  native::RequestHeader h;
  h.mutable_list_groups();
  auto r = impl_->Call(std::move(h));
  if (!r.ok()) return r.status();
  if (!r->header.has_list_groups()) return Missing("list groups");
  const auto& resp = r->header.list_groups();
  if (resp.error().code() != native::NONE) return FromNative(resp.error(), "list groups");
  std::vector<GroupListing> out;
  for (const auto& g : resp.groups()) out.push_back({g.group_id(), g.protocol_type(), g.state()});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.group_id < b.group_id; });
  return out;
}

absl::StatusOr<std::vector<GroupDescription>> Admin::DescribeGroups(
    const std::vector<std::string>& group_ids) {
  native::RequestHeader h;
  for (const auto& g : group_ids) h.mutable_describe_groups()->add_group_ids(g);
  auto r = impl_->Call(std::move(h));
  if (!r.ok()) return r.status();
  if (!r->header.has_describe_groups()) return Missing("describe groups");
  std::vector<GroupDescription> out;
  for (const auto& g : r->header.describe_groups().groups()) {
    if (g.error().code() != native::NONE) {
      return FromNative(g.error(), absl::StrCat("describe group '", g.group_id(), "'"));
    }
    GroupDescription d;
    d.group_id = g.group_id();
    d.state = g.state();
    d.protocol_type = g.protocol_type();
    d.protocol = g.protocol();
    d.generation = g.generation_id();
    for (const auto& m : g.members()) {
      MemberDescription md;
      md.member_id = m.member_id();
      md.client_id = m.client_id();
      md.client_host = m.client_host();
      if (d.protocol_type == "consumer") {
        if (auto s = client::DecodeSubscription(m.metadata()); s.ok()) {
          md.subscribed_topics = std::move(s->topics);
        }
        if (auto a = client::DecodeAssignment(m.assignment()); a.ok()) {
          md.assignment = std::move(a->partitions);
        }
      }
      d.members.push_back(std::move(md));
    }
    for (const auto& o : g.offsets()) {
      d.offsets.push_back({TopicPartition{o.topic(), o.partition()}, o.committed_offset(),
                           o.high_watermark(), o.lag()});
    }
    std::sort(d.offsets.begin(), d.offsets.end(),
              [](const auto& a, const auto& b) { return a.partition < b.partition; });
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace sluice
