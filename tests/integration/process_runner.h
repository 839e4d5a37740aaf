// Running test programs as separate processes: posix_spawn with an explicit
// environment, stdout/stderr captured through pipes, a timeout, and SIGKILL.
//
// Nothing of the test process's own environment leaks into a child unless the
// test puts it in the Env: every variable a child sees is on purpose.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace tgs::it {

// Environment for a child, as NAME -> value.
using Env = std::map<std::string, std::string>;

struct RunResult {
  int exit_code = -1;    // valid when the child exited normally
  int term_signal = 0;   // signal that ended the child, 0 if it exited
  bool timed_out = false;  // the runner killed it after the timeout
  std::string out;       // all of stdout
  std::string err;       // all of stderr
  // Human-readable summary for test failure messages.
  std::string Describe() const;
};

// A running child. Not copyable; the destructor kills (SIGKILL) and reaps a
// child that is still running.
class Process {
 public:
  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();

  // Starts argv[0] (a path) with exactly `env`. Returns false (and sets
  // *error) if the process could not be started.
  bool Start(const std::vector<std::string>& argv, const Env& env, std::string* error);

  pid_t pid() const { return pid_; }

  // Reads output until stdout contains `needle` or `timeout` passes or the
  // child closes stdout. True if found.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
  // The same for stderr (where the daemons log), looking only at what
  // arrives after byte `from` of it.
  bool WaitForError(const std::string& needle, std::chrono::milliseconds timeout, size_t from = 0);

  // Sends `sig` to the child.
  void Signal(int sig);

  // Reads output until the child exits or `timeout` passes (then SIGKILL),
  // reaps it, and returns everything it wrote.
  RunResult Wait(std::chrono::milliseconds timeout);

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // Reads what is available within `timeout`; false when both pipes are closed.
  bool Pump(std::chrono::milliseconds timeout);
  void CloseFds();

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

// Start + Wait. A child that cannot be started yields exit_code -1 and the
// reason in `err`.
RunResult RunProcess(const std::vector<std::string>& argv, const Env& env,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// "RESULT <command> k=v k=v ..." lines written by the test clients.
struct ResultLine {
  std::string command;
  std::map<std::string, std::string> fields;
  std::string Get(const std::string& key) const;
  // Numeric field; fails the current test (and returns 0) when absent/bad.
  unsigned long long Num(const std::string& key) const;
  std::string raw;
};

// All RESULT lines of `out`, in order.
std::vector<ResultLine> ParseResults(const std::string& out);
// The n-th (0-based) RESULT line for `command`; nullptr if there is none.
const ResultLine* FindResult(const std::vector<ResultLine>& lines, const std::string& command, int n = 0);

}  // namespace tgs::it
