// `sluice consume TOPIC`: print records as a group member, committing what was printed.
#include <csignal>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "sluice/consumer.h"
#include "tools/cli/commands.h"

namespace sluice::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;

std::string JsonString(const std::optional<std::string>& s) {
  if (!s) return "null";
  std::string out = "\"";
  for (unsigned char c : *s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

struct Opts {
  std::string topic;
  std::string group;
  bool from_beginning = false;
  int64_t max_messages = -1;
  int64_t timeout_ms = -1;
  std::string format = "value";
  std::string key_separator = "\t";
  int64_t session_timeout_ms = 45000;     // Kafka's session.timeout.ms default
  int64_t heartbeat_interval_ms = 3000;  // Kafka's heartbeat.interval.ms default
};

void Print(const ConsumerRecord& r, const Opts& o) {
  if (o.format == "value") {
    std::cout << r.value.value_or("") << "\n";
  } else if (o.format == "kv") {
    std::cout << r.key.value_or("") << o.key_separator << r.value.value_or("") << "\n";
  } else {  // json
    std::string headers;
    for (const auto& h : r.headers) {
      absl::StrAppend(&headers, headers.empty() ? "" : ",", "[", JsonString(h.key), ",",
                      JsonString(h.value), "]");
    }
    std::cout << "{\"topic\":" << JsonString(r.topic) << ",\"partition\":" << r.partition
              << ",\"offset\":" << r.offset << ",\"timestamp\":" << r.timestamp_ms
              << ",\"key\":" << JsonString(r.key) << ",\"value\":" << JsonString(r.value)
              << ",\"headers\":[" << headers << "]}\n";
  }
}

int Run(const GlobalOptions& g, const Opts& o) {
  ConsumerConfig config;
  ApplyGlobal(g, &config);
  const bool anonymous = o.group.empty();
  std::random_device rd;
  config.group_id = anonymous ? absl::StrCat("sluice-console-", rd()) : o.group;
  config.auto_offset_reset = o.from_beginning ? AutoOffsetReset::kEarliest : AutoOffsetReset::kLatest;
  // Commits are explicit: exactly the records printed, so a consumer killed or stopped by
  // --max-messages never commits past what it showed.
  config.enable_auto_commit = false;
  config.session_timeout = std::chrono::milliseconds(o.session_timeout_ms);
  config.heartbeat_interval = std::chrono::milliseconds(o.heartbeat_interval_ms);
  auto consumer = Consumer::Create(config);
  if (!consumer.ok()) return Fail("consumer", consumer.status());
  absl::Status s = (*consumer)->Subscribe({o.topic});
  if (!s.ok()) return Fail("subscribe", s);
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });

  int64_t printed = 0;
  auto last_record = std::chrono::steady_clock::now();
  int rc = kExitOk;
  while (!g_stop && (o.max_messages < 0 || printed < o.max_messages)) {
    auto records = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!records.ok()) {
      std::cerr << "sluice: poll: " << records.status().message() << "\n";
    } else if (!records->empty()) {
      OffsetMap done;
      for (const auto& r : *records) {
        if (o.max_messages >= 0 && printed >= o.max_messages) break;
        Print(r, o);
        ++printed;
        done[TopicPartition{r.topic, r.partition}] = OffsetAndMetadata{r.offset + 1, ""};
      }
      std::cout.flush();
      if (!anonymous) {
        absl::Status c = (*consumer)->Commit(done);
        if (!c.ok()) std::cerr << "sluice: commit: " << c.message() << "\n";
      }
      last_record = std::chrono::steady_clock::now();
    }
    if (o.timeout_ms >= 0 &&
        std::chrono::steady_clock::now() - last_record > std::chrono::milliseconds(o.timeout_ms)) {
      if (o.max_messages >= 0 && printed < o.max_messages) rc = kExitFailed;
      std::cerr << "sluice: no record for " << o.timeout_ms << " ms; consumed " << printed << "\n";
      break;
    }
  }
  absl::Status closed = (*consumer)->Close();
  if (!closed.ok()) std::cerr << "sluice: close: " << closed.message() << "\n";
  return rc;
}

}  // namespace

void AddConsumeCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("consume", "Print records of a topic, one per line");
  cmd->add_option("topic", o->topic, "Topic")->required();
  cmd->add_option("--group", o->group,
                  "Consumer group (commits what was printed); default: a throwaway group that "
                  "commits nothing");
  cmd->add_flag("--from-beginning", o->from_beginning,
                "With no committed offset, start at the log start instead of the end");
  cmd->add_option("--max-messages", o->max_messages, "Exit after this many records");
  cmd->add_option("--timeout-ms", o->timeout_ms, "Exit after this long without a record");
  cmd->add_option("--format", o->format, "value | kv (key<sep>value) | json (every field)")
      ->check(CLI::IsMember({"value", "kv", "json"}))
      ->capture_default_str();
  cmd->add_option("--key-separator", o->key_separator, "Separator for --format kv");
  cmd->add_option("--session-timeout-ms", o->session_timeout_ms,
                  "Group session timeout: a member silent this long is removed and its "
                  "partitions reassigned")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}))
      ->capture_default_str();
  cmd->add_option("--heartbeat-interval-ms", o->heartbeat_interval_ms,
                  "Heartbeat interval (keep it well below the session timeout)")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}))
      ->capture_default_str();
  cmd->callback([&global, o, exit_code] { *exit_code = Run(global, *o); });
}

}  // namespace sluice::cli
