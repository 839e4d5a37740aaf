#include "tests/integration/process_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace tgs::it {

namespace {

using Clock = std::chrono::steady_clock;

std::string TailOf(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

}  // namespace

std::string RunResult::Describe() const {
  std::ostringstream os;
  if (timed_out) {
    os << "timed out (killed)";
  } else if (term_signal != 0) {
    os << "killed by signal " << term_signal << " (" << strsignal(term_signal) << ")";
  } else {
    os << "exit code " << exit_code;
  }
  os << "\n--- stdout ---\n" << TailOf(out, 4000) << "\n--- stderr ---\n" << TailOf(err, 4000);
  return os.str();
}

Process::Process(Process&& other) noexcept { *this = std::move(other); }

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) Wait(std::chrono::milliseconds(0));
    CloseFds();
    pid_ = other.pid_;
    out_fd_ = other.out_fd_;
    err_fd_ = other.err_fd_;
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
    other.pid_ = -1;
    other.out_fd_ = other.err_fd_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
  CloseFds();
}

void Process::CloseFds() {
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
  out_fd_ = err_fd_ = -1;
}

bool Process::Start(const std::vector<std::string>& argv, const Env& env, std::string* error) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return false;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  // The child gets its own process group so a kill reaches only what it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);

  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv.at(0).c_str(), &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    *error = "posix_spawn " + argv[0] + ": " + strerror(rc);
    close(out_pipe[0]);
    close(err_pipe[0]);
    return false;
  }
  pid_ = pid;
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  out_.clear();
  err_.clear();
  return true;
}

bool Process::Pump(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) return false;
  int rc = poll(fds, n, static_cast<int>(timeout.count()));
  if (rc < 0 && errno != EINTR) return false;
  for (int i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    char buf[65536];
    ssize_t got = read(fds[i].fd, buf, sizeof buf);
    bool is_out = fds[i].fd == out_fd_;
    if (got > 0) {
      (is_out ? out_ : err_).append(buf, static_cast<size_t>(got));
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      close(fds[i].fd);
      (is_out ? out_fd_ : err_fd_) = -1;
    }
  }
  return out_fd_ >= 0 || err_fd_ >= 0;
}

bool Process::WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (out_.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    if (out_fd_ < 0) return false;
    Pump(std::min(left, std::chrono::milliseconds(100)));
  }
  return true;
}

bool Process::WaitForError(const std::string& needle, std::chrono::milliseconds timeout, size_t from) {
  const auto deadline = Clock::now() + timeout;
  while (err_.size() < from || err_.find(needle, from) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    if (err_fd_ < 0) return false;
    Pump(std::min(left, std::chrono::milliseconds(100)));
  }
  return true;
}

void Process::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

RunResult Process::Wait(std::chrono::milliseconds timeout) {
  RunResult r;
  const auto deadline = Clock::now() + timeout;
  while (out_fd_ >= 0 || err_fd_ >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      if (pid_ > 0) kill(pid_, SIGKILL);
      r.timed_out = true;
      // Collect what is still buffered, without blocking on grandchildren
      // that may hold the pipes.
      Pump(std::chrono::milliseconds(50));
      break;
    }
    Pump(std::min(left, std::chrono::milliseconds(100)));
  }
  if (pid_ > 0) {
    int st = 0;
    // The pipes are closed, the child is exiting (or was killed); if it
    // closed its stdio early and keeps running, bound the wait as well.
    while (true) {
      pid_t w = waitpid(pid_, &st, WNOHANG);
      if (w == pid_) break;
      if (w < 0) break;
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        r.timed_out = true;
        waitpid(pid_, &st, 0);
        break;
      }
      usleep(2000);
    }
    if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) r.term_signal = WTERMSIG(st);
    pid_ = -1;
  }
  CloseFds();
  r.out = out_;
  r.err = err_;
  return r;
}

RunResult RunProcess(const std::vector<std::string>& argv, const Env& env, std::chrono::milliseconds timeout) {
  Process p;
  std::string error;
  if (!p.Start(argv, env, &error)) {
    RunResult r;
    r.err = error;
    return r;
  }
  return p.Wait(timeout);
}

std::string ResultLine::Get(const std::string& key) const {
  auto it = fields.find(key);
  return it == fields.end() ? std::string() : it->second;
}

unsigned long long ResultLine::Num(const std::string& key) const {
  auto it = fields.find(key);
  if (it == fields.end()) {
    ADD_FAILURE() << "no field '" << key << "' in: " << raw;
    return 0;
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
  if (errno != 0 || end == it->second.c_str() || *end != '\0') {
    ADD_FAILURE() << "field '" << key << "' is not a number in: " << raw;
    return 0;
  }
  return v;
}

std::vector<ResultLine> ParseResults(const std::string& out) {
  std::vector<ResultLine> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RESULT ", 0) != 0) continue;
    ResultLine r;
    r.raw = line;
    std::istringstream words(line.substr(7));
    words >> r.command;
    std::string w;
    while (words >> w) {
      auto eq = w.find('=');
      if (eq == std::string::npos) continue;
      r.fields[w.substr(0, eq)] = w.substr(eq + 1);
    }
    lines.push_back(std::move(r));
  }
  return lines;
}

const ResultLine* FindResult(const std::vector<ResultLine>& lines, const std::string& command, int n) {
  for (const auto& l : lines) {
    if (l.command == command && n-- == 0) return &l;
  }
  return nullptr;
}

}  // namespace tgs::it
