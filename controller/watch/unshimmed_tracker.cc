#include "controller/watch/unshimmed_tracker.h"

namespace tgs::controller {

void UnshimmedTracker::Registered(pid_t pid, Clock::time_point) {
  registered_[pid] = Clock::time_point::max();
  pending_.erase(pid);
}

void UnshimmedTracker::Departed(pid_t pid, Clock::time_point now) {
  auto it = registered_.find(pid);
  if (it != registered_.end()) it->second = now;
}

void UnshimmedTracker::GpuUse(const Suspect& use) {
  if (registered_.contains(use.pid) || judged_.contains(use.pid)) return;
  pending_.try_emplace(use.pid, use);  // the first use is the one reported
}

void UnshimmedTracker::Exited(pid_t pid) {
  registered_.erase(pid);
  judged_.erase(pid);
  // A pending use stays: a process that used the GPU unshimmed and exited
  // within the grace is still reported.
}

std::vector<Suspect> UnshimmedTracker::Due(Clock::time_point now) {
  std::vector<Suspect> due;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.seen < grace_) {
      ++it;
      continue;
    }
    if (!registered_.contains(it->first)) {
      due.push_back(it->second);
      judged_[it->first] = true;
    }
    it = pending_.erase(it);
  }
  std::erase_if(registered_, [&](const auto& entry) {
    return entry.second != Clock::time_point::max() && now - entry.second > remember_;
  });
  return due;
}

}  // namespace tgs::controller
