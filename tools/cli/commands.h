#pragma once
// Subcommands of the `sluice` CLI; each Add*Command registers itself on `app` and, when run,
// stores its exit code in *exit_code.

#include "CLI/CLI.hpp"
#include "tools/cli/common.h"

namespace sluice::cli {

void AddProduceCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
void AddPerfCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
void AddTopicCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
void AddGroupCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
void AddConsumeCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace sluice::cli
