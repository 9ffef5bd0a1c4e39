#include "broker/config.h"

#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "asio/ip/address.hpp"
#include "broker/version.h"
#include "storage/absl_compat.h"
#include "toml++/toml.h"

namespace sluice::broker {
namespace {

constexpr int kExitBadConfig = 2;

// Flags whose value is a storage topic default: flag name -> Kafka topic config name.
struct LogFlag {
  const char* flag;
  const char* topic_config;
  int64_t storage::LogConfig::*field;
  const char* help;
};
constexpr LogFlag kLogFlags[] = {
    {"--log-retention-ms", "retention.ms", &storage::LogConfig::retention_ms,
     "Delete closed segments whose newest record is older than this (-1: never)"},
    {"--log-retention-bytes", "retention.bytes", &storage::LogConfig::retention_bytes,
     "Keep a partition at most about this many bytes (-1: unlimited)"},
    {"--log-segment-bytes", "segment.bytes", &storage::LogConfig::segment_bytes,
     "Roll a segment before it would exceed this size"},
    {"--log-segment-ms", "segment.ms", &storage::LogConfig::segment_ms,
     "Roll a segment once it is this old"},
    {"--log-flush-ms", "flush.ms", &storage::LogConfig::flush_ms,
     "fdatasync appended data at most this long after it was written"},
    {"--log-flush-messages", "flush.messages", &storage::LogConfig::flush_messages,
     "fdatasync once this many records are unsynced (1: every append before its ack)"},
    {"--max-message-bytes", "max.message.bytes", &storage::LogConfig::max_message_bytes,
     "Largest record batch a producer may append"},
};

// Finds "--config FILE" / "--config=FILE" before the real parse, so the file's values can be
// placed ahead of the command line (where the later value wins).
std::optional<std::string> FindConfigPath(int argc, const char* const* argv) {
  std::optional<std::string> path;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (a.starts_with("--config=")) {
      path = std::string(a.substr(9));
    }
  }
  return path;
}

// Turns the TOML file into "--key=value" arguments. Keys are the flag names without "--"
// (underscores are accepted for hyphens). Returns false with `error` set on a bad file.
bool TomlToArgs(const std::string& path, const CLI::App& app, std::vector<std::string>* out,
                std::string* error) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << e.description() << " at line " << e.source().begin.line << ", column "
       << e.source().begin.column;
    *error = absl::StrCat("config file ", path, ": ", os.str());
    return false;
  }
  for (const auto& [k, node] : table) {
    std::string key(k.str());
    for (char& c : key) {
      if (c == '_') c = '-';
    }
    if (key == "config" || key == "help") {
      *error = absl::StrCat("config file ", path, ": key '", key, "' is not allowed in a file");
      return false;
    }
    try {
      app.get_option("--" + key);
    } catch (const CLI::OptionNotFound&) {
      *error = absl::StrCat("config file ", path, ": unknown key '", std::string(k.str()), "'");
      return false;
    }
    std::string value;
    if (auto s = node.value<std::string>(); s && node.is_string()) {
      value = *s;
    } else if (node.is_integer()) {
      value = absl::StrCat(*node.value<int64_t>());
    } else if (node.is_boolean()) {
      value = *node.value<bool>() ? "true" : "false";
    } else {
      *error = absl::StrCat("config file ", path, ": key '", std::string(k.str()),
                            "' must be a string, an integer or a boolean");
      return false;
    }
    out->push_back(absl::StrCat("--", key, "=", value));
  }
  return true;
}

bool Fail(const std::string& message) {
  std::cerr << "sluiced: " << message << "\nRun with --help for the options.\n";
  return false;
}

template <typename T>
bool CheckRange(const char* flag, T v, T lo, T hi) {
  if (v < lo || v > hi) {
    return Fail(absl::StrCat(flag, ": ", v, " is outside [", lo, ", ", hi, "]"));
  }
  return true;
}

}  // namespace

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::optional<HostPort> ParseHostPort(const std::string& s, std::string* error) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      *error = "expected [v6-address]:port";
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) {
      *error = "expected host:port (IPv6 as [address]:port)";
      return std::nullopt;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  asio::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) {
    *error = absl::StrCat("'", host, "' is not an IP address");
    return std::nullopt;
  }
  uint32_t p = 0;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || (p = std::stoul(port)) > 65535) {
    *error = absl::StrCat("'", port, "' is not a port number (0-65535)");
    return std::nullopt;
  }
  return HostPort{host, static_cast<uint16_t>(p)};
}

ParsedConfig ParseBrokerConfig(int argc, const char* const* argv) {
  BrokerConfig c;
  c.io_threads = std::max(1u, std::thread::hardware_concurrency());

  CLI::App app{"sluiced: the Sluice broker (Kafka-compatible log, native protobuf protocol)",
               "sluiced"};
  app.option_defaults()->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(44);
  app.set_version_flag("--version", std::string("sluiced ") + kBrokerVersion);

  std::string config_file, kafka_addr = c.kafka_addr.ToString(),
                           native_addr = c.native_addr.ToString(),
                           http_addr = c.http_addr.ToString(), log_level = "info";
  app.add_option("--config", config_file,
                 "TOML file of options (keys are flag names without --, e.g. data-dir = \"/d\"); "
                 "flags given on the command line override it");
  app.add_option("--data-dir", c.data_dir, "Directory of segments and metadata");
  app.add_option("--kafka-addr", kafka_addr, "Kafka protocol listener host:port (port 0: any)");
  app.add_option("--native-addr", native_addr, "Native protocol listener host:port (port 0: any)");
  app.add_option("--http-addr", http_addr, "HTTP /healthz and /metrics host:port (port 0: any)");
  app.add_option("--node-id", c.node_id, "This broker's node id");
  app.add_option("--num-partitions", c.num_partitions,
                 "Partitions of auto-created topics and of CreateTopics without a count");
  app.add_option("--auto-create-topics", c.auto_create_topics,
                 "Create missing topics on Metadata (when asked) and on Produce (true/false)");
  std::vector<int64_t> log_values;
  for (const LogFlag& f : kLogFlags) log_values.push_back(c.log.*(f.field));
  for (size_t i = 0; i < std::size(kLogFlags); ++i) {
    app.add_option(
        kLogFlags[i].flag, log_values[i],
        absl::StrCat(kLogFlags[i].help, " (topic config ", kLogFlags[i].topic_config, ")"));
  }
  app.add_option("--log-level", log_level, "Log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--io-threads", c.io_threads, "Network threads, one io_context each");
  app.add_option("--max-frame-bytes", c.max_frame_bytes,
                 "Largest native frame accepted; a longer one closes the connection");
  app.add_option("--max-connections", c.max_connections,
                 "Connections beyond this are closed as soon as they are accepted");
  app.add_option("--max-inflight-bytes-per-connection", c.max_inflight_bytes_per_connection,
                 "Stop reading a connection while its unanswered requests hold this many bytes");
  app.add_option("--idle-timeout-ms", c.idle_timeout_ms,
                 "Close connections silent this long (Kafka's connections.max.idle.ms)");
  app.add_option("--request-timeout-ms", c.request_timeout_ms,
                 "Longest a request is held: produce durability waits and fetch long polls are "
                 "cut to this");
  app.add_option("--max-partitions-per-topic", c.max_partitions_per_topic,
                 "CreateTopics / CreatePartitions above this many partitions fail "
                 "(INVALID_PARTITIONS)");
  app.add_option("--max-topics", c.max_topics,
                 "Creating a topic beyond this many fails (POLICY_VIOLATION), auto-creation too");
  app.add_option("--log-retention-check-interval-ms", c.log_retention_check_interval_ms,
                 "How often retention deletes old segments");
  app.add_option("--storage-min-free-bytes", c.storage_min_free_bytes,
                 "Produces fail (KAFKA_STORAGE_ERROR) rather than leave less free disk space than "
                 "this (0: until the disk is full)");
  app.add_option("--group-min-session-timeout-ms", c.group_min_session_timeout_ms,
                 "Smallest consumer session timeout accepted");
  app.add_option("--group-max-session-timeout-ms", c.group_max_session_timeout_ms,
                 "Largest consumer session timeout accepted");
  app.add_option("--group-initial-rebalance-delay-ms", c.group_initial_rebalance_delay_ms,
                 "How long the first rebalance of an empty group waits for more members");
  app.add_option("--port-file", c.port_file,
                 "After binding, write \"kafka=PORT\\nnative=PORT\\nhttp=PORT\\n\" to this file "
                 "(atomically)");

  // File values go first so that command-line values, parsed later, win (TakeLast).
  std::vector<std::string> args{argc > 0 ? argv[0] : "sluiced"};
  if (auto path = FindConfigPath(argc, argv)) {
    std::string error;
    if (!TomlToArgs(*path, app, &args, &error)) {
      Fail(error);
      return ParsedConfig{std::nullopt, kExitBadConfig};
    }
  }
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  std::vector<const char*> cargs;
  for (const auto& a : args) cargs.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(cargs.size()), cargs.data());
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return ParsedConfig{std::nullopt, 0};
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return ParsedConfig{std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    Fail(e.what());
    return ParsedConfig{std::nullopt, kExitBadConfig};
  }

  auto bad = [] { return ParsedConfig{std::nullopt, kExitBadConfig}; };
  struct Addr {
    const char* flag;
    const std::string& text;
    HostPort* out;
  };
  for (const Addr& a : {Addr{"--kafka-addr", kafka_addr, &c.kafka_addr},
                        Addr{"--native-addr", native_addr, &c.native_addr},
                        Addr{"--http-addr", http_addr, &c.http_addr}}) {
    std::string error;
    auto hp = ParseHostPort(a.text, &error);
    if (!hp) {
      Fail(absl::StrCat(a.flag, ": '", a.text, "': ", error));
      return bad();
    }
    *a.out = *hp;
  }
  storage::meta::TopicConfig overrides;
  for (size_t i = 0; i < std::size(kLogFlags); ++i) {
    absl::Status s =
        storage::SetTopicConfig(&overrides, kLogFlags[i].topic_config, absl::StrCat(log_values[i]));
    if (!s.ok()) {
      Fail(absl::StrCat(kLogFlags[i].flag, ": ", s.message()));
      return bad();
    }
  }
  c.log = storage::LogConfig{}.With(overrides);
  c.log_level = spdlog::level::from_str(log_level);

  if (c.data_dir.empty()) {
    Fail("--data-dir: must not be empty");
    return bad();
  }
  bool ok = CheckRange("--node-id", c.node_id, 0, std::numeric_limits<int32_t>::max()) &&
            CheckRange("--num-partitions", c.num_partitions, 1, 10000) &&
            CheckRange("--io-threads", c.io_threads, 1, 1024) &&
            CheckRange("--max-frame-bytes", c.max_frame_bytes, 1024u, 1u << 31) &&
            CheckRange("--max-connections", c.max_connections, 1, 1000000) &&
            CheckRange("--max-inflight-bytes-per-connection", c.max_inflight_bytes_per_connection,
                       uint64_t{1}, uint64_t{1} << 40) &&
            CheckRange("--idle-timeout-ms", c.idle_timeout_ms, int64_t{1},
                       int64_t{365} * 24 * 3600 * 1000) &&
            CheckRange("--request-timeout-ms", c.request_timeout_ms, int64_t{1},
                       int64_t{std::numeric_limits<int32_t>::max()}) &&
            CheckRange("--max-partitions-per-topic", c.max_partitions_per_topic, 1, 1000000) &&
            CheckRange("--max-topics", c.max_topics, 1, 10000000) &&
            CheckRange("--log-retention-check-interval-ms", c.log_retention_check_interval_ms,
                       int64_t{1}, int64_t{1} << 40) &&
            CheckRange("--storage-min-free-bytes", c.storage_min_free_bytes, int64_t{0},
                       int64_t{1} << 50) &&
            CheckRange("--group-min-session-timeout-ms", c.group_min_session_timeout_ms, 1,
                       std::numeric_limits<int32_t>::max()) &&
            CheckRange("--group-max-session-timeout-ms", c.group_max_session_timeout_ms,
                       c.group_min_session_timeout_ms, std::numeric_limits<int32_t>::max()) &&
            CheckRange("--group-initial-rebalance-delay-ms", c.group_initial_rebalance_delay_ms, 0,
                       std::numeric_limits<int32_t>::max());
  if (!ok) return bad();
  return ParsedConfig{std::move(c), 0};
}

}  // namespace sluice::broker
