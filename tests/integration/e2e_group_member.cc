// e2e_group_member: a consumer-group member process for e2e_test, behaving like
// `sluice consume TOPIC --group G --from-beginning --format kv` (print key<TAB>value per record,
// flush, then commit exactly what was printed) but with a configurable session timeout and
// heartbeat interval (a member killed with SIGKILL is only expired after its session timeout)
// and a commit delay the CLI has no option for, so the test's victim is this process.
// COMMIT_DELAY_MS > 0 sleeps between printing a batch and committing it: a slow
// commit, which gives the test a wide window to kill the member with printed but uncommitted
// records.
//
//   e2e_group_member BOOTSTRAP TOPIC GROUP CLIENT_ID SESSION_TIMEOUT_MS HEARTBEAT_MS
//                    COMMIT_DELAY_MS
//
// Runs until SIGTERM/SIGINT; exit code 0 after a clean Close(), 1 on a setup error, 2 on usage.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "sluice/consumer.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: e2e_group_member BOOTSTRAP TOPIC GROUP CLIENT_ID SESSION_TIMEOUT_MS "
                 "HEARTBEAT_MS COMMIT_DELAY_MS\n";
    return 2;
  }
  sluice::ConsumerConfig config;
  config.bootstrap_servers = {argv[1]};
  const std::string topic = argv[2];
  config.group_id = argv[3];
  config.client_id = argv[4];
  config.session_timeout = std::chrono::milliseconds(std::atoi(argv[5]));
  config.heartbeat_interval = std::chrono::milliseconds(std::atoi(argv[6]));
  const auto commit_delay = std::chrono::milliseconds(std::atoi(argv[7]));
  config.auto_offset_reset = sluice::AutoOffsetReset::kEarliest;
  config.enable_auto_commit = false;
  auto consumer = sluice::Consumer::Create(config);
  if (!consumer.ok()) {
    std::cerr << "e2e_group_member: " << consumer.status() << "\n";
    return 1;
  }
  if (auto s = (*consumer)->Subscribe({topic}); !s.ok()) {
    std::cerr << "e2e_group_member: subscribe: " << s << "\n";
    return 1;
  }
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  while (!g_stop) {
    auto records = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!records.ok()) {
      std::cerr << "e2e_group_member: poll: " << records.status() << "\n";
      continue;
    }
    if (records->empty()) continue;
    sluice::OffsetMap done;
    for (const auto& r : *records) {
      std::cout << r.key.value_or("") << "\t" << r.value.value_or("") << "\n";
      done[sluice::TopicPartition{r.topic, r.partition}] =
          sluice::OffsetAndMetadata{r.offset + 1, ""};
    }
    std::cout.flush();
    if (commit_delay.count() > 0) std::this_thread::sleep_for(commit_delay);
    if (auto s = (*consumer)->Commit(done); !s.ok()) {
      std::cerr << "e2e_group_member: commit: " << s << "\n";
    }
  }
  if (auto s = (*consumer)->Close(); !s.ok()) {
    std::cerr << "e2e_group_member: close: " << s << "\n";
    return 1;
  }
  return 0;
}
