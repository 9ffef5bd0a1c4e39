// sluiced: the Sluice broker. See broker/README.md and `sluiced --help`.
#include <csignal>

#include "broker/config.h"
#include "broker/server.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  auto parsed = sluice::broker::ParseBrokerConfig(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  spdlog::set_level(parsed.config->log_level);
  // A peer that closes mid-response must cost us an EPIPE, not the process (sendfile(2) has no
  // MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  sluice::broker::Server server(std::move(*parsed.config));
  return server.Run();
}
