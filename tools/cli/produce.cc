// `sluice produce TOPIC`: one record per stdin line.
#include "tools/cli/commands.h"

#include <atomic>
#include <iostream>
#include <mutex>

#include "sluice/producer.h"

namespace sluice::cli {

void AddProduceCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  struct Opts {
    std::string topic;
    std::string key_separator;
    std::vector<std::string> headers;
    int acks = -1;
    int partition = -1;
    int linger_ms = 5;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("produce", "Produce one record per line of stdin");
  cmd->add_option("topic", opts->topic, "Topic to produce to")->required();
  cmd->add_option("--key-separator", opts->key_separator,
                  "Split each line at the first SEP into key and value (no SEP: null key)");
  cmd->add_option("--header", opts->headers, "Header KEY=VALUE added to every record (repeatable)");
  cmd->add_option("--acks", opts->acks, "0, 1 or -1 (all: after fdatasync)")
      ->check(CLI::IsMember({0, 1, -1}))
      ->capture_default_str();
  cmd->add_option("--partition", opts->partition, "Partition (default: the partitioner's choice)");
  cmd->add_option("--linger-ms", opts->linger_ms, "Batching delay")->capture_default_str();
  cmd->callback([&global, opts, exit_code] {
    ProducerConfig config;
    ApplyGlobal(global, &config);
    config.acks = static_cast<Acks>(opts->acks);
    config.linger = std::chrono::milliseconds(opts->linger_ms);
    std::vector<Header> headers;
    for (const auto& h : opts->headers) {
      size_t eq = h.find('=');
      if (eq == std::string::npos) {
        std::cerr << "sluice: --header '" << h << "' must be KEY=VALUE\n";
        *exit_code = kExitUsage;
        return;
      }
      headers.push_back(Header{h.substr(0, eq), h.substr(eq + 1)});
    }
    auto producer = Producer::Create(config);
    if (!producer.ok()) {
      *exit_code = Fail("producer", producer.status());
      return;
    }
    std::atomic<int64_t> failed{0};
    std::mutex first_error_mu;
    absl::Status first_error;
    int64_t sent = 0;
    std::string line;
    while (std::getline(std::cin, line)) {
      Record r;
      r.topic = opts->topic;
      if (opts->partition >= 0) r.partition = opts->partition;
      if (!opts->key_separator.empty()) {
        size_t at = line.find(opts->key_separator);
        if (at != std::string::npos) {
          r.key = line.substr(0, at);
          line = line.substr(at + opts->key_separator.size());
        }
      }
      r.value = line;
      r.headers = headers;
      (*producer)->Send(std::move(r), [&](const SendResult& res) {
        if (res.ok()) return;
        if (failed.fetch_add(1) == 0) {
          std::lock_guard l(first_error_mu);
          first_error = res.status();
        }
      });
      ++sent;
    }
    absl::Status closed = (*producer)->Close();
    if (!closed.ok() && failed == 0) {
      *exit_code = Fail("flush", closed);
      return;
    }
    if (failed > 0) {
      std::lock_guard l(first_error_mu);
      std::cerr << "sluice: " << failed << " of " << sent << " records were not delivered; first error: "
                << first_error.message() << "\n";
      *exit_code = kExitFailed;
      return;
    }
    std::cerr << "produced " << sent << " records to " << opts->topic << "\n";
    *exit_code = kExitOk;
  });
}

}  // namespace sluice::cli
