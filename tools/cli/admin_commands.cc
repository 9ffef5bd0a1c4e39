// `sluice topic ...` and `sluice group ...`: administration through sluice::Admin.
#include <iostream>

#include "absl/strings/str_format.h"
#include "sluice/admin.h"
#include "tools/cli/commands.h"

namespace sluice::cli {
namespace {

absl::StatusOr<std::unique_ptr<Admin>> MakeAdmin(const GlobalOptions& g) {
  AdminConfig config;
  ApplyGlobal(g, &config);
  return Admin::Create(config);
}

int TopicCreate(const GlobalOptions& g, const std::string& name, int partitions,
                const std::vector<std::string>& configs) {
  std::map<std::string, std::string> cfg;
  for (const auto& kv : configs) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "sluice: --config '" << kv << "' must be NAME=VALUE (e.g. retention.ms=86400000)\n";
      return kExitUsage;
    }
    cfg[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto admin = MakeAdmin(g);
  if (!admin.ok()) return Fail("admin", admin.status());
  absl::Status s = (*admin)->CreateTopic(name, partitions, cfg);
  if (!s.ok()) return Fail("create topic '" + name + "'", s);
  std::cout << "created topic " << name << "\n";
  return kExitOk;
}

int TopicList(const GlobalOptions& g) {
  auto admin = MakeAdmin(g);
  if (!admin.ok()) return Fail("admin", admin.status());
  auto topics = (*admin)->ListTopics();
  if (!topics.ok()) return Fail("list topics", topics.status());
  for (const auto& t : *topics) std::cout << t << "\n";
  return kExitOk;
}

int TopicDescribe(const GlobalOptions& g, const std::string& name) {
  auto admin = MakeAdmin(g);
  if (!admin.ok()) return Fail("admin", admin.status());
  auto d = (*admin)->DescribeTopics({name});
  if (!d.ok()) return Fail("describe topic '" + name + "'", d.status());
  auto cfg = (*admin)->DescribeConfigs(name);
  for (const auto& t : *d) {
    std::cout << absl::StrFormat("topic %s, %d partitions\n", t.name, t.partitions.size());
    std::cout << absl::StrFormat("%-10s %-7s %-16s %-16s\n", "PARTITION", "LEADER", "LOG-START",
                                 "HIGH-WATERMARK");
    for (const auto& p : t.partitions) {
      std::cout << absl::StrFormat("%-10d %-7d %-16d %-16d\n", p.partition, p.leader,
                                   p.log_start_offset, p.high_watermark);
    }
  }
  if (cfg.ok()) {
    std::cout << "configs:\n";
    for (const auto& [k, v] : cfg->configs) {
      std::cout << "  " << k << "=" << v << (cfg->overridden.contains(k) ? " (set on topic)" : "")
                << "\n";
    }
  }
  return kExitOk;
}

int TopicDelete(const GlobalOptions& g, const std::string& name) {
  auto admin = MakeAdmin(g);
  if (!admin.ok()) return Fail("admin", admin.status());
  absl::Status s = (*admin)->DeleteTopic(name);
  if (!s.ok()) return Fail("delete topic '" + name + "'", s);
  std::cout << "deleted topic " << name << "\n";
  return kExitOk;
}

int GroupList(const GlobalOptions& g) {
  auto admin = MakeAdmin(g);
  if (!admin.ok()) return Fail("admin", admin.status());
  auto groups = (*admin)->ListGroups();
  if (!groups.ok()) return Fail("list groups", groups.status());
  for (const auto& gr : *groups) {
    std::cout << absl::StrFormat("%-30s %-12s %s\n", gr.group_id, gr.protocol_type, gr.state);
  }
  return kExitOk;
}

int GroupDescribe(const GlobalOptions& g, const std::string& id) {
  auto admin = MakeAdmin(g);
  if (!admin.ok()) return Fail("admin", admin.status());
  auto groups = (*admin)->DescribeGroups({id});
  if (!groups.ok()) return Fail("describe group '" + id + "'", groups.status());
  for (const auto& gr : *groups) {
    std::cout << absl::StrFormat("group %s: state %s, protocol %s/%s, generation %d, %d members\n",
                                 gr.group_id, gr.state, gr.protocol_type, gr.protocol,
                                 gr.generation, gr.members.size());
    for (const auto& m : gr.members) {
      std::string parts;
      for (const auto& tp : m.assignment) parts += (parts.empty() ? "" : ",") + tp.ToString();
      std::cout << absl::StrFormat("  member %s (client %s, host %s): %s\n", m.member_id,
                                   m.client_id, m.client_host, parts.empty() ? "-" : parts);
    }
    std::cout << absl::StrFormat("%-30s %-10s %-16s %-16s %-10s\n", "TOPIC", "PARTITION",
                                 "COMMITTED", "HIGH-WATERMARK", "LAG");
    for (const auto& p : gr.offsets) {
      std::cout << absl::StrFormat("%-30s %-10d %-16d %-16d %-10d\n", p.partition.topic,
                                   p.partition.partition, p.committed_offset, p.high_watermark,
                                   p.lag);
    }
  }
  return kExitOk;
}

}  // namespace

void AddTopicCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto* topic = app.add_subcommand("topic", "Create, list, describe and delete topics");
  topic->require_subcommand(1);
  struct Opts {
    std::string name;
    int partitions = 1;
    std::vector<std::string> configs;
  };
  auto o = std::make_shared<Opts>();
  auto* create = topic->add_subcommand("create", "Create a topic");
  create->add_option("name", o->name, "Topic name ([a-zA-Z0-9._-], at most 249)")->required();
  create->add_option("--partitions", o->partitions, "Partition count")
      ->check(CLI::PositiveNumber)->capture_default_str();
  create->add_option("--config", o->configs, "Topic config NAME=VALUE (repeatable)");
  create->callback([&global, o, exit_code] {
    *exit_code = TopicCreate(global, o->name, o->partitions, o->configs);
  });
  topic->add_subcommand("list", "List topics")->callback([&global, exit_code] {
    *exit_code = TopicList(global);
  });
  auto* describe = topic->add_subcommand("describe", "Partitions, offsets and configs of a topic");
  describe->add_option("name", o->name, "Topic")->required();
  describe->callback([&global, o, exit_code] { *exit_code = TopicDescribe(global, o->name); });
  auto* del = topic->add_subcommand("delete", "Delete a topic and its data");
  del->add_option("name", o->name, "Topic")->required();
  del->callback([&global, o, exit_code] { *exit_code = TopicDelete(global, o->name); });
}

void AddGroupCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto* group = app.add_subcommand("group", "List and describe consumer groups");
  group->require_subcommand(1);
  auto id = std::make_shared<std::string>();
  group->add_subcommand("list", "List groups")->callback([&global, exit_code] {
    *exit_code = GroupList(global);
  });
  auto* describe =
      group->add_subcommand("describe", "Members, assignment, committed offsets and lag");
  describe->add_option("group", *id, "Group id")->required();
  describe->callback([&global, id, exit_code] { *exit_code = GroupDescribe(global, *id); });
}

}  // namespace sluice::cli
