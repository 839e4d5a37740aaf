#include "tests/container/device_plugin/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace tgs::device_plugin_test {
namespace {

bool Spawn(const std::vector<std::string>& argv, const Env& env, const std::string& log_path, pid_t* pid,
           std::string* error) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_text;
  for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // A fresh signal mask and dispositions: gtest or gRPC may have changed ours.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = posix_spawn(pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    *error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return false;
  }
  return true;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int StatusCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

}  // namespace

bool ChildProcess::Start(const std::vector<std::string>& argv, const Env& env, const std::string& log_path,
                         std::string* error) {
  log_path_ = log_path;
  exit_code_ = -1;
  return Spawn(argv, env, log_path, &pid_, error);
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_code_ = r == pid_ ? StatusCode(status) : -1;
  pid_ = -1;
  return false;
}

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_code_;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  exit_code_ = StatusCode(status);
  pid_ = -1;
  return exit_code_;
}

std::string ChildProcess::Log() const { return log_path_.empty() ? "" : Slurp(log_path_); }

CommandResult RunCommand(const std::vector<std::string>& argv, const Env& env, std::chrono::milliseconds timeout) {
  CommandResult result;
  char path[] = "/tmp/tgs-dp-cmd-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  ChildProcess child;
  std::string error;
  if (!child.Start(argv, env, path, &error)) {
    result.output = error;
    unlink(path);
    return result;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (child.Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.exit_code = child.Running() ? child.Stop(std::chrono::milliseconds(0)) : child.ExitCode();
  result.output = Slurp(path);
  unlink(path);
  return result;
}

}  // namespace tgs::device_plugin_test
