#include "container/device-plugin/health_monitor.h"

#include "shim/util/log.h"

namespace tgs::device_plugin {

bool HealthBoard::Healthy(size_t gpu) const {
  std::lock_guard<std::mutex> guard(mu_);
  return reasons_.at(gpu).empty();
}

std::string HealthBoard::Reason(size_t gpu) const {
  std::lock_guard<std::mutex> guard(mu_);
  return reasons_.at(gpu);
}

uint64_t HealthBoard::generation() const {
  std::lock_guard<std::mutex> guard(mu_);
  return generation_;
}

bool HealthBoard::Set(size_t gpu, const std::string& reason) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    std::string& current = reasons_.at(gpu);
    // A different failure text on a GPU that stays unhealthy is not news to
    // the kubelet: only the healthy/unhealthy edge bumps the generation.
    bool was_healthy = current.empty();
    current = reason;
    if (was_healthy == reason.empty()) return false;
    ++generation_;
  }
  changed_.notify_all();
  return true;
}

uint64_t HealthBoard::WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t wakes = wakes_;
  changed_.wait_for(lock, timeout, [&] { return generation_ != seen || wakes_ != wakes; });
  return generation_;
}

void HealthBoard::Wake() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    ++wakes_;
  }
  changed_.notify_all();
}

void HealthMonitor::ProbeAll() {
  for (size_t gpu = 0; gpu < names_.size(); ++gpu) {
    std::string reason = probe_(gpu);
    if (board_->Set(gpu, reason)) {
      if (reason.empty()) {
        TGS_LOG_WARN("%s answers again: its devices are Healthy", names_[gpu].c_str());
      } else {
        TGS_LOG_WARN("%s does not answer (%s): its devices are Unhealthy", names_[gpu].c_str(), reason.c_str());
      }
    }
  }
}

void HealthMonitor::Start() {
  ProbeAll();
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (wake_.wait_for(lock, interval_, [&] { return stop_; })) break;
      lock.unlock();
      ProbeAll();
      lock.lock();
    }
  });
}

void HealthMonitor::Stop() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tgs::device_plugin
