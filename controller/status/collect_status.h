// Builds the NodeStatus (node_status.h) of one control interval from what the
// daemon hands its control loop: the containers' state files and policies and
// the node board. The control loop adds what only it knows (rate-control
// phase and rates, thrashing) through ControlLoop::Report.
#pragma once

#include "controller/daemon/control_loop.h"
#include "controller/status/node_status.h"

namespace tgs::controller {

// Kubernetes' CRI labels, when the integration attached them to a container.
inline constexpr const char* kNamespaceLabel = "io.kubernetes.pod.namespace";
inline constexpr const char* kPodLabel = "io.kubernetes.pod.name";
inline constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";

void CollectNodeStatus(const RegistrySnapshot& snapshot, NodeStatus* out);

// Index into out.gpus of the GPU with `uuid` (16 raw bytes), or -1.
int FindGpuReport(const NodeStatus& status, const uint8_t uuid[16]);

}  // namespace tgs::controller
