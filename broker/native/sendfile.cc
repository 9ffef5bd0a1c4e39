#include "broker/native/sendfile.h"

#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "asio/buffer.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/use_awaitable.hpp"
#include "asio/write.hpp"

namespace sluice::broker::native {
namespace {

constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kMaxChunk = size_t{1} << 30;  // sendfile moves at most ~2 GiB per call
constexpr size_t kCopyBufferBytes = 256 * 1024;

absl::Status Errno(int err, std::string_view what) {
  return absl::UnavailableError(
      absl::StrCat(absl::string_view(what.data(), what.size()), ": ", std::strerror(err)));
}

// pread + write fallback for one range.
asio::awaitable<absl::Status> CopyRange(asio::ip::tcp::socket& socket, int fd, off_t offset,
                                        uint64_t n, uint64_t* sent) {
  auto buf = std::make_unique_for_overwrite<char[]>(kCopyBufferBytes);
  while (n > 0) {
    ssize_t r = ::pread(fd, buf.get(), std::min<uint64_t>(n, kCopyBufferBytes), offset);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) co_return Errno(errno, "pread");
    if (r == 0) co_return absl::DataLossError("segment shorter than the slice being sent");
    auto [ec, w] = co_await asio::async_write(
        socket, asio::buffer(buf.get(), static_cast<size_t>(r)), kNoThrow);
    if (ec) co_return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
    offset += r;
    n -= static_cast<uint64_t>(r);
    *sent += w;
  }
  co_return absl::OkStatus();
}

}  // namespace

asio::awaitable<absl::Status> SendSlices(asio::ip::tcp::socket& socket,
                                         std::span<const storage::FileSlice> slices,
                                         uint64_t* sent) {
  const int out = socket.native_handle();
  for (const storage::FileSlice& s : slices) {
    const int in = s.segment->fd();
    off_t offset = static_cast<off_t>(s.position);
    uint64_t left = s.size;
    while (left > 0) {
      ssize_t w = ::sendfile(out, in, &offset, std::min<uint64_t>(left, kMaxChunk));
      if (w > 0) {
        left -= static_cast<uint64_t>(w);
        *sent += static_cast<uint64_t>(w);
        continue;
      }
      if (w == 0) co_return absl::DataLossError("segment shorter than the slice being sent");
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_write, kNoThrow);
        if (ec) co_return absl::UnavailableError(absl::StrCat("wait for write: ", ec.message()));
        continue;
      }
      if (err == EINVAL || err == ENOSYS) {
        absl::Status st = co_await CopyRange(socket, in, offset, left, sent);
        if (!st.ok()) co_return st;
        left = 0;
        continue;
      }
      co_return Errno(err, "sendfile");
    }
  }
  co_return absl::OkStatus();
}

}  // namespace sluice::broker::native
