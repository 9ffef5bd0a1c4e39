#include "client/src/io_thread.h"

#include <pthread.h>

#include "spdlog/spdlog.h"

namespace sluice::client {

IoThread::IoThread(std::string name)
    : work_(asio::make_work_guard(io_)), done_future_(done_.get_future()) {
  thread_ = std::thread([this, name = std::move(name)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    try {
      io_.run();
    } catch (const std::exception& e) {
      // Handlers do not throw; reaching this is a bug worth a loud line.
      spdlog::critical("{}: io thread stopped by an exception: {}", name, e.what());
    }
    done_.set_value();
  });
}

IoThread::~IoThread() { Stop(); }

void IoThread::Stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return;
  stopped_ = true;
  work_.reset();
  if (done_future_.wait_for(grace) != std::future_status::ready) io_.stop();
  thread_.join();
}

}  // namespace sluice::client
