// GPU health as the plugin last saw it, and the thread that probes it. Every
// resource's ListAndWatch stream waits on the board's generation and sends
// its device list again when a GPU turns unhealthy or healthy.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tgs::device_plugin {

class HealthBoard {
 public:
  explicit HealthBoard(size_t gpus) : reasons_(gpus) {}

  bool Healthy(size_t gpu) const;
  // Why the GPU is unhealthy; empty when it is healthy.
  std::string Reason(size_t gpu) const;
  uint64_t generation() const;

  // Records a probe result; on a change, bumps the generation and wakes the
  // waiters. Returns whether it changed.
  bool Set(size_t gpu, const std::string& reason);

  // Returns once the generation differs from `seen`, Wake() was called, or
  // `timeout` passed; the current generation.
  uint64_t WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const;
  // Wakes every waiter (shutting a stream down).
  void Wake();

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::vector<std::string> reasons_;  // per GPU; empty = healthy
  uint64_t generation_ = 0;
  uint64_t wakes_ = 0;
};

// Probes every GPU each `interval` and records the result on the board.
class HealthMonitor {
 public:
  // `probe(gpu)` returns "" when healthy, else why not.
  using Probe = std::function<std::string(size_t gpu)>;
  // `names`: one per GPU (its UUID), for the log.
  HealthMonitor(HealthBoard* board, std::vector<std::string> names, Probe probe, std::chrono::milliseconds interval)
      : board_(board), names_(std::move(names)), probe_(std::move(probe)), interval_(interval) {}
  ~HealthMonitor() { Stop(); }

  // Probes once now (so the first ListAndWatch is accurate), then in a thread.
  void Start();
  void Stop();
  // One round, on the calling thread.
  void ProbeAll();

 private:
  HealthBoard* board_;
  std::vector<std::string> names_;
  Probe probe_;
  std::chrono::milliseconds interval_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace tgs::device_plugin
