#pragma once
// Awaitable wrappers around GroupCoordinator's callback API. The coordinator runs `done` on its
// own strand; these re-post the result to the awaiting coroutine's executor, so code after
// `co_await` runs where it started.
//
// These are deliberately NOT coroutines: GCC 12 double-destroys a capturing lambda created inside
// a co_await expression (see broker/README.md, "GCC 12 coroutine pitfalls"), so every lambda is
// built here, in plain functions, and callers only pass values.
//
// Example (inside a coroutine):
//   JoinGroupResult r = co_await group_calls::Join(coordinator, std::move(req));

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "asio/associated_executor.hpp"
#include "asio/async_result.hpp"
#include "asio/awaitable.hpp"
#include "asio/post.hpp"
#include "asio/use_awaitable.hpp"
#include "broker/group/coordinator.h"

namespace sluice::broker::group_calls {

// `start` receives a copyable std::function<void(Result)> and passes it to a coordinator method.
template <typename Result, typename Start>
asio::awaitable<Result> Call(Start start) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result)>(
      [start = std::move(start)](auto handler) mutable {
        auto ex = asio::get_associated_executor(handler);
        // The awaitable's handler is move-only; std::function needs a copyable callable.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start(std::function<void(Result)>([shared, ex](Result r) {
          asio::post(ex, [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
        }));
      },
      asio::use_awaitable);
}

inline asio::awaitable<JoinGroupResult> Join(GroupCoordinator& gc, JoinGroupRequest req) {
  return Call<JoinGroupResult>([&gc, req = std::move(req)](auto done) mutable {
    gc.JoinGroup(std::move(req), std::move(done));
  });
}
inline asio::awaitable<SyncGroupResult> Sync(GroupCoordinator& gc, SyncGroupRequest req) {
  return Call<SyncGroupResult>([&gc, req = std::move(req)](auto done) mutable {
    gc.SyncGroup(std::move(req), std::move(done));
  });
}
inline asio::awaitable<GroupError> Heartbeat(GroupCoordinator& gc, HeartbeatRequest req) {
  return Call<GroupError>([&gc, req = std::move(req)](auto done) mutable {
    gc.Heartbeat(std::move(req), std::move(done));
  });
}
inline asio::awaitable<GroupError> Leave(GroupCoordinator& gc, LeaveGroupRequest req) {
  return Call<GroupError>([&gc, req = std::move(req)](auto done) mutable {
    gc.LeaveGroup(std::move(req), std::move(done));
  });
}
inline asio::awaitable<OffsetCommitResult> Commit(GroupCoordinator& gc, OffsetCommitRequest req) {
  return Call<OffsetCommitResult>([&gc, req = std::move(req)](auto done) mutable {
    gc.OffsetCommit(std::move(req), std::move(done));
  });
}
inline asio::awaitable<OffsetFetchResult> FetchOffsets(GroupCoordinator& gc,
                                                       OffsetFetchRequest req) {
  return Call<OffsetFetchResult>([&gc, req = std::move(req)](auto done) mutable {
    gc.OffsetFetch(std::move(req), std::move(done));
  });
}
inline asio::awaitable<std::vector<GroupListing>> List(GroupCoordinator& gc) {
  return Call<std::vector<GroupListing>>([&gc](auto done) { gc.ListGroups(std::move(done)); });
}
inline asio::awaitable<std::vector<GroupDescription>> Describe(GroupCoordinator& gc,
                                                               std::vector<std::string> ids) {
  return Call<std::vector<GroupDescription>>([&gc, ids = std::move(ids)](auto done) mutable {
    gc.DescribeGroups(std::move(ids), std::move(done));
  });
}

}  // namespace sluice::broker::group_calls
