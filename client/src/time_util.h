#pragma once
// Deadline arithmetic that saturates instead of overflowing, for user-supplied durations such as
// milliseconds::max() ("wait forever").

#include <chrono>
#include <future>

namespace sluice::client {

inline std::chrono::steady_clock::time_point DeadlineAfter(
    std::chrono::milliseconds d,
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
  using TP = std::chrono::steady_clock::time_point;
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(TP::max() - now);
  return d >= room ? TP::max() : now + d;
}

// future.wait_for() that accepts milliseconds::max().
template <typename T>
bool WaitReady(const std::future<T>& f, std::chrono::milliseconds timeout) {
  const auto deadline = DeadlineAfter(timeout);
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    f.wait();
    return true;
  }
  return f.wait_until(deadline) == std::future_status::ready;
}

}  // namespace sluice::client
