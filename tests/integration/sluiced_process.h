#pragma once
// Child processes for the end-to-end tests: the real `sluiced` on ephemeral loopback ports and
// the `sluice` CLI (or any other binary) with stdin/stdout/stderr redirected to files.
//
// The approach is broker_native_test.cc's: fork/exec, a port file to learn the ports, every wait
// bounded, and children signalled by PID only (never by name). A ChildProcess/BrokerProcess kills
// its child (SIGKILL, which also ends a SIGSTOPped process) when destroyed, so a failing test
// never leaks processes.
//
// Thread: objects of this header are used by the test's main thread; Spawn() is safe to call
// while other threads run (the child only calls async-signal-safe functions before exec).

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::e2e {

using Clock = std::chrono::steady_clock;

// Waits for `pid` to exit for at most `timeout`; returns its wait status or nullopt.
inline std::optional<int> WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return std::nullopt;
    if (Clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// The exit code of a wait status; -1 when the process died by a signal.
inline int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A fresh directory under /tmp; empty on failure.
inline std::string MakeTempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  return mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
}

// A blocking TCP connection to 127.0.0.1:`port` with TCP_NODELAY; -1 if it failed. `rcvbuf` and
// `sndbuf` > 0 fix SO_RCVBUF and SO_SNDBUF before connecting.
inline int ConnectLoopback(uint16_t port, int rcvbuf = 0, int sndbuf = 0) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// The response (status line, headers, body) to GET `path` on a loopback HTTP port, read until the
// server closes (the request asks it to) or 5 s pass; "" if the connection failed.
inline std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string out;
  {
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      const auto until = Clock::now() + std::chrono::seconds(5);
      char buf[16384];
      while (Clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        const ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  return out;
}

// Forks and execs args[0] with `args`; stdin from `stdin_path` (empty: /dev/null), stdout and
// stderr appended to the given files (the same path for both is fine). Returns the pid, or -1.
inline pid_t Spawn(const std::vector<std::string>& args, const std::string& stdin_path,
                   const std::string& stdout_path, const std::string& stderr_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const char* in = stdin_path.empty() ? "/dev/null" : stdin_path.c_str();
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec: the parent has threads.
    int fd = open(in, O_RDONLY);
    if (fd >= 0) dup2(fd, 0);
    if (fd > 2) close(fd);
    fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1);
    if (fd > 2) close(fd);
    fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 2);
    if (fd > 2) close(fd);
    // The test's own sockets (clients of the broker) must not live on in the child.
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Sends SIGSTOP and waits (bounded) until every thread of `pid` is stopped: kill() returns before
// the stop takes effect, and a broker thread already running on another core can otherwise still
// answer requests sent right after it.
inline bool StopAndWait(pid_t pid, std::chrono::milliseconds timeout) {
  if (pid <= 0 || kill(pid, SIGSTOP) != 0) return false;
  const auto until = std::chrono::steady_clock::now() + timeout;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  while (std::chrono::steady_clock::now() < until) {
    bool all_stopped = true;
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
      std::ifstream in(t.path() / "stat");
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      size_t paren = stat.rfind(')');  // "tid (comm) STATE ...": comm may hold spaces or ')'
      if (paren == std::string::npos || paren + 2 >= stat.size()) continue;  // thread gone
      char state = stat[paren + 2];
      if (state != 'T' && state != 't') all_stopped = false;
    }
    if (!ec && all_stopped) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// One child process, killed (SIGKILL, by PID) on destruction unless it was waited for.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const std::vector<std::string>& args, const std::string& stdin_path,
               const std::string& stdout_path, const std::string& stderr_path)
      : pid_(Spawn(args, stdin_path, stdout_path, stderr_path)) {}
  ChildProcess(ChildProcess&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
  ChildProcess& operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
      Kill();
      pid_ = std::exchange(o.pid_, -1);
    }
    return *this;
  }
  ~ChildProcess() { Kill(); }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  void Signal(int sig) const {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Waits (bounded) for the exit; returns the wait status, nullopt if still running.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return std::nullopt;
    auto status = WaitPid(pid_, timeout);
    if (status) pid_ = -1;
    return status;
  }

  // SIGKILL and reap.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(5));
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// Runs a command to completion (bounded); returns its exit code, -1 if killed by a signal or
// still running after `timeout` (then it is killed).
inline int RunToExit(const std::vector<std::string>& args, const std::string& stdin_path,
                     const std::string& stdout_path, const std::string& stderr_path,
                     std::chrono::milliseconds timeout) {
  ChildProcess child(args, stdin_path, stdout_path, stderr_path);
  if (!child.running()) return -1;
  auto status = child.Wait(timeout);
  return status ? ExitCode(*status) : -1;
}

// sluiced in `dir` (data in dir/data, log in dir/sluiced.log) on 127.0.0.1 ephemeral ports (Kafka,
// native and HTTP listeners).
// Start() may be called again after Stop(): the data dir is kept, the ports change.
class BrokerProcess {
 public:
  BrokerProcess(std::string sluiced_path, std::string dir, std::vector<std::string> flags)
      : sluiced_path_(std::move(sluiced_path)), dir_(std::move(dir)), flags_(std::move(flags)) {}
  ~BrokerProcess() { Kill(); }

  // Starts sluiced and waits (bounded) for its port file.
  bool Start(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const std::string port_file = dir_ + "/ports";
    std::error_code ec;
    std::filesystem::remove(port_file, ec);
    kafka_port = native_port = http_port = 0;
    std::vector<std::string> args{sluiced_path_, "--data-dir", dir_ + "/data", "--port-file",
                                  port_file};
    args.insert(args.end(), {"--kafka-addr", "127.0.0.1:0", "--native-addr", "127.0.0.1:0",
                             "--http-addr", "127.0.0.1:0"});
    args.insert(args.end(), {"--io-threads", "2"});
    args.insert(args.end(), flags_.begin(), flags_.end());
    pid_ = Spawn(args, "", log_path(), log_path());
    if (pid_ <= 0) return false;
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      std::ifstream f(port_file);
      std::string line;
      while (std::getline(f, line)) {
        if (line.rfind("kafka=", 0) == 0) kafka_port = uint16_t(std::stoi(line.substr(6)));
        if (line.rfind("native=", 0) == 0) native_port = uint16_t(std::stoi(line.substr(7)));
        if (line.rfind("http=", 0) == 0) http_port = uint16_t(std::stoi(line.substr(5)));
      }
      if (kafka_port != 0 && native_port != 0 && http_port != 0) return true;
      if (WaitPid(pid_, std::chrono::milliseconds(0))) {
        pid_ = -1;
        return false;  // exited during start-up
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // SIGTERM and wait (bounded); the exit code, -1 if it had to be killed or died by a signal.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGCONT);  // a stopped broker cannot act on SIGTERM
    kill(pid_, SIGTERM);
    auto status = WaitPid(pid_, timeout);
    if (!status) {
      Kill();
      return -1;
    }
    pid_ = -1;
    kafka_port = native_port = http_port = 0;
    return ExitCode(*status);
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(5));
    pid_ = -1;
  }

  void Signal(int sig) const {
    if (pid_ > 0) kill(pid_, sig);
  }

  pid_t pid() const { return pid_; }
  std::string bootstrap() const { return "127.0.0.1:" + std::to_string(native_port); }
  std::string log_path() const { return dir_ + "/sluiced.log"; }
  std::string Log() const { return ReadFile(log_path()); }

  uint16_t kafka_port = 0;
  uint16_t native_port = 0;
  uint16_t http_port = 0;

 private:
  std::string sluiced_path_;
  std::string dir_;
  std::vector<std::string> flags_;
  pid_t pid_ = -1;
};

}  // namespace sluice::e2e
