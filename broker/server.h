#pragma once
// Server: the whole broker process. Owns, in start-up order, the LogManager (storage), the admin
// thread for topic changes, the group coordinator (on its own io_context and thread), the
// io_context pool, the Kafka and native listeners (sharing one connection tracker) and the HTTP
// listener.
//
// Lifecycle: Run() opens storage, binds the listeners, writes the port file, serves until
// SIGTERM or SIGINT, then shuts down gracefully: stop accepting, end long polls, let in-flight
// requests finish (up to kDrainTimeout), stop the coordinator and the io threads, and close the
// LogManager (sync + clean RocksDB close). Run() is called once, from main's thread, and returns
// the process exit code.

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "asio/executor_work_guard.hpp"
#include "asio/io_context.hpp"
#include "broker/config.h"
#include "broker/group/coordinator.h"
#include "broker/http.h"
#include "broker/io_context_pool.h"
#include "broker/metrics.h"
#include "broker/net/listener.h"
#include "broker/notifier.h"
#include "broker/services.h"
#include "broker/topic_admin.h"
#include "storage/log_manager.h"

namespace sluice::broker {

class Server {
 public:
  static constexpr auto kDrainTimeout = std::chrono::seconds(5);

  explicit Server(BrokerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int Run();

 private:
  absl::Status Start();
  absl::Status WritePortFile() const;
  // Idempotent; safe after a partial Start().
  absl::Status Shutdown();

  BrokerConfig config_;
  Metrics metrics_;
  PartitionNotifier notifier_;
  net::ConnectionTracker tracker_;  // Kafka and native connections
  std::unique_ptr<storage::FileFactory> fault_files_;  // SLUICE_FAULT_INJECTION only
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<TopicAdmin> topics_;
  std::unique_ptr<asio::io_context> group_ctx_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> group_guard_;
  std::thread group_thread_;
  std::unique_ptr<GroupCoordinator> groups_;
  std::unique_ptr<BrokerServices> services_;
  std::unique_ptr<IoContextPool> pool_;
  std::unique_ptr<net::Listener> kafka_;
  std::unique_ptr<net::Listener> native_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace sluice::broker
