#pragma once
// IoThread: the io_context of one client object and the one thread that runs it. Every piece of
// networking state of a Producer, Consumer or Admin lives on this thread; public methods reach it
// by posting work and, when they must block, by waiting on a future with a timeout.
//
// Lifecycle: the thread starts in the constructor and runs until Stop() (or the destructor),
// which first lets outstanding work drain for a grace period and then stops the context. Objects
// whose handlers may still be queued must be destroyed before the IoThread (declare it first).
//
// Example:
//   IoThread io("sluice-producer");
//   absl::StatusOr<int> v = io.Await(SomeCoroutine(), std::chrono::seconds(5));
//   io.Stop();

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio.hpp"
#include "client/src/time_util.h"

namespace sluice::client {

class IoThread {
 public:
  explicit IoThread(std::string name);
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  asio::io_context& context() { return io_; }
  asio::any_io_executor executor() { return io_.get_executor(); }
  bool InThisThread() const { return io_.get_executor().running_in_this_thread(); }
  bool stopped() const { return stopped_; }

  // Releases the context's keep-alive, waits up to `grace` for the queued work to finish, then
  // stops the context and joins the thread. Idempotent; not from the io thread itself.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  // Runs `coro` on the io thread and waits at most `timeout` for its result. T is absl::Status or
  // an absl::StatusOr. Fails fast when called from the io thread (it would deadlock) or after
  // Stop().
  template <typename T>
  T Await(asio::awaitable<T> coro, std::chrono::milliseconds timeout) {
    if (InThisThread()) {
      return T(absl::FailedPreconditionError(
          "a blocking client call was made on the client's io thread (from a callback?)"));
    }
    if (stopped_) return T(absl::CancelledError("the client is closed"));
    std::future<T> f = asio::co_spawn(io_, std::move(coro), asio::use_future);
    if (!WaitReady(f, timeout)) {
      return T(absl::DeadlineExceededError("timed out waiting for the client's io thread"));
    }
    try {
      return f.get();
    } catch (const std::exception& e) {  // broken promise at shutdown, or a bug in `coro`
      return T(absl::InternalError(e.what()));
    }
  }

  // Runs `fn` (returning absl::Status or an absl::StatusOr) on the io thread and waits at most
  // `timeout` for it, with Await()'s failure modes; runs it inline on the io thread itself.
  template <typename F>
  auto Call(F fn, std::chrono::milliseconds timeout) -> decltype(fn()) {
    using T = decltype(fn());
    if (InThisThread()) return fn();
    if (stopped_) return T(absl::CancelledError("the client is closed"));
    auto task = std::make_shared<std::packaged_task<T()>>(std::move(fn));
    std::future<T> f = task->get_future();
    asio::post(io_, [task] { (*task)(); });
    if (!WaitReady(f, timeout)) {
      return T(absl::DeadlineExceededError("timed out waiting for the client's io thread"));
    }
    try {
      return f.get();
    } catch (const std::exception& e) {  // broken promise at shutdown
      return T(absl::InternalError(e.what()));
    }
  }

 private:
  mutable asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::promise<void> done_;
  std::future<void> done_future_;
  std::thread thread_;
  bool stopped_ = false;  // written by the owner thread only
};

}  // namespace sluice::client
