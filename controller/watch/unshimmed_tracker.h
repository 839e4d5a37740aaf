// Decides which GPU users the node watch saw are *unshimmed*: processes that
// opened a GPU device or entered the driver library but never registered
// with the controller. A shimmed process registers while the driver
// initialises — after the watch saw it — so a process is judged only once it
// has had `grace` to register; processes that registered are remembered for
// a while after they leave, so that a short-lived shimmed tool is not taken
// for an unshimmed one when its first event is judged after its exit.
// Pure logic, clock passed in: unit-tested (tests/controller/unshimmed_tracker_test.cc).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tgs::controller {

struct Suspect {
  pid_t pid = 0;
  uint64_t cgroup_id = 0;
  std::string comm;
  std::string what;  // what it used: a device path or a driver function
  std::chrono::steady_clock::time_point seen;
};

class UnshimmedTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit UnshimmedTracker(std::chrono::milliseconds grace = std::chrono::milliseconds(300),
                            std::chrono::seconds remember = std::chrono::seconds(30))
      : grace_(grace), remember_(remember) {}

  void Registered(pid_t pid, Clock::time_point now);
  void Departed(pid_t pid, Clock::time_point now);
  // A GPU use seen by the watch; judged at the first Due() after the grace.
  void GpuUse(const Suspect& use);
  // The process is gone: forget it (as a suspect and as registered).
  void Exited(pid_t pid);

  // Uses whose grace has passed by a process that never registered; each
  // process once. Also forgets departed registrations older than `remember`.
  std::vector<Suspect> Due(Clock::time_point now);

 private:
  std::chrono::milliseconds grace_;
  std::chrono::seconds remember_;
  std::map<pid_t, Clock::time_point> registered_;  // time_point::max() while connected
  std::map<pid_t, Suspect> pending_;
  std::map<pid_t, bool> judged_;  // reported already (until it exits)
};

}  // namespace tgs::controller
