#include "controller/daemon/control_loop.h"

#include "shim/util/log.h"

namespace tgs::controller {

std::string StatusReporter::StatusLine(const RegistrySnapshot& snapshot) {
  int production = 0, processes = 0;
  uint64_t used = 0;
  for (const ContainerView& c : snapshot.containers) {
    if (c.policy->kind == policy::Kind::kProduction) ++production;
    processes += c.occupied_slots;
    for (int g = 0; g < state::kMaxGpus; ++g) used += c.file->UsedBytes(g);
  }
  return "status: " + std::to_string(snapshot.containers.size()) + " container(s) (" + std::to_string(production) +
         " production), " + std::to_string(processes) + " process(es), " + std::to_string(used) +
         " bytes of GPU memory in use";
}

void StatusReporter::OnInterval(const RegistrySnapshot& snapshot) {
  std::string line = StatusLine(snapshot);
  if (line == last_) return;
  TGS_LOG_DEBUG("%s", line.c_str());
  last_ = std::move(line);
}

}  // namespace tgs::controller
