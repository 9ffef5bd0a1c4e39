#include "broker/server.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "asio/signal_set.hpp"
#include "broker/kafka/handler.h"
#include "broker/kafka/listener.h"
#include "broker/native/handler.h"
#include "broker/native/listener.h"
#include "broker/scrape.h"
#include "spdlog/spdlog.h"
#include "storage/absl_compat.h"
#include "storage/fault_injection.h"

namespace sluice::broker {
namespace {

// Polls `done` every 10 ms until it holds or `timeout` passes.
template <typename Pred>
bool WaitFor(Pred done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace

Server::Server(BrokerConfig config) : config_(std::move(config)) {}

Server::~Server() { Shutdown().IgnoreError(); }

absl::Status Server::Start() {
  storage::LogManager::Options lo;
  lo.data_dir = config_.data_dir;
  lo.defaults = config_.log;
  lo.max_partitions_per_topic = config_.max_partitions_per_topic;
  lo.max_topics = config_.max_topics;
  lo.min_free_bytes = config_.storage_min_free_bytes;
  lo.retention_check_interval_ms = config_.log_retention_check_interval_ms;
  if (const char* control = std::getenv("SLUICE_FAULT_INJECTION"); control && *control) {
    spdlog::warn("SLUICE_FAULT_INJECTION={}: segment writes and syncs fail as that file says "
                 "(storage/fault_injection.h); for tests only",
                 control);
    fault_files_ = std::make_unique<storage::FaultInjectionFileFactory>(control);
    lo.files = fault_files_.get();
  }
  auto logs = storage::LogManager::Open(lo);
  if (!logs.ok()) return logs.status();
  logs_ = *std::move(logs);
  logs_->flusher().SetSyncObserver([m = &metrics_](int64_t micros, const absl::Status& s) {
    m->fsync_latency.ObserveMicros(micros);
    if (!s.ok()) m->fsync_errors.Add(1);
  });
  topics_ = std::make_unique<TopicAdmin>(*logs_, config_);

  group_ctx_ = std::make_unique<asio::io_context>(1);
  group_guard_.emplace(asio::make_work_guard(*group_ctx_));
  group_thread_ = std::thread([ctx = group_ctx_.get()] { ctx->run(); });
  GroupCoordinator::Options go;
  go.min_session_timeout_ms = config_.group_min_session_timeout_ms;
  go.max_session_timeout_ms = config_.group_max_session_timeout_ms;
  go.initial_rebalance_delay_ms = config_.group_initial_rebalance_delay_ms;
  storage::LogManager* lm = logs_.get();
  groups_ = std::make_unique<GroupCoordinator>(
      group_ctx_->get_executor(), logs_->group_offsets(),
      [lm](const std::string& topic, int32_t p) -> std::optional<int64_t> {
        auto log = lm->GetPartition(topic, PartitionId(p));
        if (!log.ok()) return std::nullopt;
        return (*log)->high_watermark().value();
      },
      go);

  pool_ = std::make_unique<IoContextPool>(config_.io_threads);
  services_ = std::make_unique<BrokerServices>(
      BrokerServices{config_, *logs_, *topics_, *groups_, notifier_, metrics_, 0});
  native::RegisterApiMetrics(metrics_);
  kafka::RegisterApiMetrics(metrics_);
  kafka_ = kafka::MakeKafkaListener(*pool_, *services_, tracker_);
  if (absl::Status s = kafka_->Bind(config_.kafka_addr); !s.ok()) return s;
  services_->kafka_port = kafka_->port();
  native_ = native::MakeNativeListener(*pool_, *services_, tracker_);
  if (absl::Status s = native_->Bind(config_.native_addr); !s.ok()) return s;
  services_->native_port = native_->port();

  BrokerServices* services = services_.get();
  std::map<std::string, HttpServer::Route> routes;
  routes["/healthz"] = []() -> asio::awaitable<HttpReply> {
    co_return HttpReply{200, "text/plain; charset=utf-8", "ok\n"};
  };
  routes["/metrics"] = [services]() -> asio::awaitable<HttpReply> {
    // (GCC 12 mishandles co_await inside a braced initializer: keep it a statement.)
    std::string body = co_await ScrapeMetrics(*services);
    co_return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", std::move(body)};
  };
  http_ = std::make_unique<HttpServer>(*pool_, std::move(routes));
  if (absl::Status s = http_->Bind(config_.http_addr); !s.ok()) return s;
  if (absl::Status s = WritePortFile(); !s.ok()) return s;

  pool_->Start();
  kafka_->Start();
  native_->Start();
  http_->Start();
  spdlog::info(
      "sluiced node {} serving: kafka port {}, native port {}, http port {}, {} io threads, "
      "data dir {}",
      config_.node_id, kafka_->port(), native_->port(), http_->port(), config_.io_threads,
      config_.data_dir);
  return absl::OkStatus();
}

absl::Status Server::WritePortFile() const {
  if (config_.port_file.empty()) return absl::OkStatus();
  std::string tmp = config_.port_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << "kafka=" << kafka_->port() << "\nnative=" << native_->port() << "\nhttp=" << http_->port()
      << "\n";
    f.close();
    if (!f) return absl::UnavailableError(absl::StrCat("cannot write port file ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, config_.port_file, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp, " to ", config_.port_file, ": ", ec.message()));
  }
  return absl::OkStatus();
}

int Server::Run() {
  // Installed before anything starts, so a signal during start-up waits for the shutdown path.
  asio::io_context main_ctx;
  asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
  int received = 0;
  signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (!ec) received = sig;
  });

  absl::Status s = Start();
  if (!s.ok()) {
    spdlog::critical("start-up failed: {}", s.ToString());
    Shutdown().IgnoreError();
    return 1;
  }
  main_ctx.run();
  spdlog::info("received {}, shutting down", received == SIGINT ? "SIGINT" : "SIGTERM");
  s = Shutdown();
  if (!s.ok()) {
    spdlog::error("shutdown: {}", s.ToString());
    return 1;
  }
  spdlog::info("shut down cleanly");
  return 0;
}

absl::Status Server::Shutdown() {
  if (!logs_) return absl::OkStatus();
  // 1. No new connections; long polls and held group joins answer now (the coordinator's
  //    callbacks post back to the io threads, which still run); connections finish what they
  //    have and close.
  if (kafka_) kafka_->Stop();
  if (native_) native_->Stop();
  if (http_) http_->Stop();
  notifier_.Shutdown();
  tracker_.DrainAll();
  if (groups_) groups_->Shutdown();
  if (!WaitFor([&] { return tracker_.count() == 0; }, kDrainTimeout)) {
    spdlog::warn("{} connection(s) still busy after {} s; closing them", tracker_.count(),
                 kDrainTimeout.count());
    tracker_.CloseAll();
    WaitFor([&] { return tracker_.count() == 0; }, std::chrono::seconds(1));
  }
  // 2. Stop the io threads; their io_contexts stay alive (stopped) until step 5.
  if (pool_) {
    pool_->Stop();
    pool_->Join();
  }
  // 3. No topic change or group work may run once storage closes.
  if (topics_) topics_->Stop();
  if (group_ctx_) {
    group_guard_.reset();
    group_ctx_->stop();
    if (group_thread_.joinable()) group_thread_.join();
  }
  groups_.reset();
  group_ctx_.reset();
  // 4. Sync and close storage. Durability waiters still registered complete here and post to
  //    the stopped io_contexts, which is why those are destroyed only afterwards.
  absl::Status s = logs_->Close();
  // 5. Listeners, then the io_contexts (destroying any request coroutine still suspended).
  kafka_.reset();
  native_.reset();
  http_.reset();
  pool_.reset();
  services_.reset();
  topics_.reset();
  logs_.reset();
  return s;
}

}  // namespace sluice::broker
