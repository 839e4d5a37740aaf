// Daemons the device-plugin tests start (tgs-device-plugin, tgs-controller)
// and short commands (tgs-simgpu-ctl). posix_spawn, never a bare fork: the
// test process runs gRPC threads, and a forked copy of them is not safe.
// A daemon's stdout and stderr go to a log file, read back for failure
// messages, so a chatty daemon never blocks on a full pipe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace tgs::device_plugin_test {

using Env = std::map<std::string, std::string>;

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(); }

  // Starts argv[0] with exactly `env`, output appended to `log_path`.
  bool Start(const std::vector<std::string>& argv, const Env& env, const std::string& log_path, std::string* error);
  // SIGTERM, then SIGKILL after `grace`; returns the exit status (-1 if killed).
  int Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // Whether it still runs; if it exited, its status is kept for ExitCode().
  bool Running();
  int ExitCode() const { return exit_code_; }
  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a command to completion (at most `timeout`).
CommandResult RunCommand(const std::vector<std::string>& argv, const Env& env,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace tgs::device_plugin_test
