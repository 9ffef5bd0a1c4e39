#pragma once
// Test helpers for the group coordinator: an in-memory GroupOffsetStore with injected failures,
// and Reply<T>, a bounded wait for one `done` callback that also counts repeated calls.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "storage/group_offset_store.h"

namespace sluice::broker::testing {

// Every wait in the tests is bounded by this: a lost reply fails the test instead of hanging.
inline constexpr auto kWait = std::chrono::seconds(5);

// In-memory GroupOffsetStore with injected failures and a gate that holds writes.
class FakeOffsetStore : public storage::GroupOffsetStore {
 public:
  std::atomic<bool> fail_put{false};
  std::atomic<bool> fail_get{false};
  std::atomic<bool> fail_delete{false};

  // While closed, PutGroupOffsets blocks.
  void CloseGate() {
    std::lock_guard l(mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    std::lock_guard l(mu_);
    gate_open_ = true;
    cv_.notify_all();
  }
  std::optional<int64_t> Stored(const std::string& group, const std::string& topic, int32_t p) {
    std::lock_guard l(mu_);
    auto g = data_.find(group);
    if (g == data_.end()) return std::nullopt;
    auto it = g->second.find({topic, p});
    if (it == g->second.end()) return std::nullopt;
    return it->second.offset;
  }

  absl::Status PutGroupOffsets(const std::string& group,
                               const std::vector<storage::CommittedOffset>& offsets) override {
    std::unique_lock l(mu_);
    cv_.wait(l, [this] { return gate_open_; });
    if (fail_put) return absl::UnavailableError("injected put failure");
    for (const auto& o : offsets) data_[group][{o.topic, o.partition}] = o;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<storage::CommittedOffset>> GetGroupOffsets(
      const std::string& group) const override {
    if (fail_get) return absl::UnavailableError("injected get failure");
    std::lock_guard l(mu_);
    std::vector<storage::CommittedOffset> out;
    if (auto g = data_.find(group); g != data_.end()) {
      for (const auto& [k, o] : g->second) out.push_back(o);
    }
    return out;
  }
  absl::StatusOr<std::vector<std::string>> ListOffsetGroups() const override {
    if (fail_get) return absl::UnavailableError("injected list failure");
    std::lock_guard l(mu_);
    std::vector<std::string> out;
    for (const auto& [g, offsets] : data_) {
      if (!offsets.empty()) out.push_back(g);
    }
    return out;
  }
  absl::Status DeleteGroupOffsets(const std::string& group) override {
    if (fail_delete) return absl::UnavailableError("injected delete failure");
    std::lock_guard l(mu_);
    data_.erase(group);
    return absl::OkStatus();
  }
  absl::Status DeleteTopicOffsets(const std::string& topic) override {
    std::lock_guard l(mu_);
    for (auto& [g, offsets] : data_) {
      std::erase_if(offsets, [&](const auto& kv) { return kv.first.first == topic; });
    }
    return absl::OkStatus();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool gate_open_ = true;
  std::map<std::string, std::map<std::pair<std::string, int32_t>, storage::CommittedOffset>> data_;
};

// Counts `done` callbacks called more than once, across all tests.
inline std::atomic<int> g_repeated_callbacks{0};

// The future reply of one coordinator call.
template <typename T>
class Reply {
 public:
  std::function<void(T)> Callback() const {
    return [s = state_](T v) {
      std::lock_guard l(s->mu);
      if (s->value) {
        ++g_repeated_callbacks;
        return;
      }
      s->value = std::move(v);
      s->cv.notify_all();
    };
  }
  bool Ready() const {
    std::lock_guard l(state_->mu);
    return state_->value.has_value();
  }
  // The reply; throws (failing the test) if none arrives within `timeout`.
  T Get(std::chrono::milliseconds timeout = kWait) const {
    std::unique_lock l(state_->mu);
    if (!state_->cv.wait_for(l, timeout, [&] { return state_->value.has_value(); })) {
      throw std::runtime_error("no reply from the coordinator in time");
    }
    return *state_->value;
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<T> value;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace sluice::broker::testing
