#pragma once
// Zero-copy transmission of segment byte ranges to a socket with sendfile(2).
//
// The socket must be in non-blocking mode (the connection sets it): on EAGAIN the coroutine waits
// for writability with async_wait. If sendfile is refused (EINVAL, ENOSYS: a file system or
// socket that cannot splice) the range goes through pread + write instead. Runs on the socket's
// executor; one call at a time per socket.

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "storage/partition_log.h"

namespace sluice::broker::native {

// Sends every byte of `slices`, in order. Adds the bytes sent to *sent as it goes. Fails if the
// socket fails or a file turns out shorter than its slice (the frame is then broken and the
// caller must close the connection).
asio::awaitable<absl::Status> SendSlices(asio::ip::tcp::socket& socket,
                                         std::span<const storage::FileSlice> slices,
                                         uint64_t* sent);

}  // namespace sluice::broker::native
