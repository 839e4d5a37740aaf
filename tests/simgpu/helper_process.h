// Runs simgpu_test_helper (helper.cc) as a second process sharing the test's
// segment, and talks to it over its stdout.
#pragma once

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

namespace simtest {

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

inline Child Spawn(std::vector<std::string> args) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  args.insert(args.begin(), SIMGPU_HELPER);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  EXPECT_EQ(posix_spawn(&c.pid, SIMGPU_HELPER, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  c.out = fdopen(fds[0], "r");
  return c;
}

inline std::string ReadLine(Child& c) {
  char buf[128] = {0};
  if (fgets(buf, sizeof buf, c.out) == nullptr) return "";
  std::string s(buf);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

inline int Wait(Child& c) {
  int status = 0;
  waitpid(c.pid, &status, 0);
  fclose(c.out);
  return status;
}

}  // namespace simtest
