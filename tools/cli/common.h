#pragma once
// Shared pieces of the `sluice` CLI: global options, exit codes and error reporting.

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sluice/client_config.h"

namespace sluice::cli {

// Exit codes: 0 success, 1 the operation failed (broker said no, timeout), 2 bad usage.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string bootstrap = "127.0.0.1:9192";
  std::string client_id = "sluice-cli";
  int request_timeout_ms = 30000;
};

// Fills the connection settings every client shares.
inline void ApplyGlobal(const GlobalOptions& g, ClientConfig* c) {
  c->bootstrap_servers.clear();
  size_t start = 0;
  while (start <= g.bootstrap.size()) {
    size_t comma = g.bootstrap.find(',', start);
    if (comma == std::string::npos) comma = g.bootstrap.size();
    if (comma > start) c->bootstrap_servers.push_back(g.bootstrap.substr(start, comma - start));
    start = comma + 1;
  }
  c->client_id = g.client_id;
  c->request_timeout = std::chrono::milliseconds(g.request_timeout_ms);
}

// Prints "sluice: <what>: <message>" to stderr and returns kExitFailed.
inline int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "sluice: %s: %.*s\n", what.c_str(), static_cast<int>(s.message().size()),
               s.message().data());
  return kExitFailed;
}

}  // namespace sluice::cli
