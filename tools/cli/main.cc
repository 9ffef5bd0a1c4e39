// sluice: command-line client of a sluice broker (native protocol).
//   sluice [--bootstrap HOST:PORT] topic|produce|consume|group|perf ...
#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"sluice: command-line client of a sluice broker (native protocol)"};
  app.require_subcommand(1);
  sluice::cli::GlobalOptions global;
  app.add_option("--bootstrap", global.bootstrap, "Broker native address(es), HOST:PORT[,...]")
      ->capture_default_str();
  app.add_option("--client-id", global.client_id, "Client id sent to the broker")
      ->capture_default_str();
  app.add_option("--request-timeout-ms", global.request_timeout_ms, "Per-request timeout")
      ->capture_default_str();
  int exit_code = sluice::cli::kExitOk;
  sluice::cli::AddTopicCommand(app, global, &exit_code);
  sluice::cli::AddProduceCommand(app, global, &exit_code);
  sluice::cli::AddConsumeCommand(app, global, &exit_code);
  sluice::cli::AddGroupCommand(app, global, &exit_code);
  sluice::cli::AddPerfCommand(app, global, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : sluice::cli::kExitUsage;
  }
  return exit_code;
}
