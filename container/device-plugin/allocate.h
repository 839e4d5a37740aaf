// Allocate: one container's devices become a grant from tgs-controller and
// the mounts, device nodes, environment and annotations that put the shim and
// the grant's socket into the container (container/INTERFACES.md).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "container/device-plugin/controller_client.h"
#include "container/device-plugin/health_monitor.h"
#include "container/device-plugin/options.h"
#include "container/device-plugin/resource_model.h"
#include "deviceplugin/v1beta1/api.pb.h"

namespace tgs::device_plugin {

// What every container of the node gets from the host, whatever its grant.
struct HostFiles {
  std::string shim_dir;                  // -> /usr/lib/tgs, and its ld.so.preload -> /etc/ld.so.preload
  std::vector<std::string> driver_libs;  // -> /usr/local/nvidia/lib64/<basename>
  std::string dev_root;                  // device nodes, looked up at each Allocate
};

// The response for `grant` on `gpu`. Pure: no I/O but the device-node lookup.
void FillContainerResponse(const Grant& grant, const Gpu& gpu, const HostFiles& files,
                           v1beta1::ContainerAllocateResponse* out);

class Allocator {
 public:
  // `probe(gpu)` asks the GPU now ("" when it answers); a failure is also
  // recorded on `board` so ListAndWatch tells the kubelet.
  using Probe = std::function<std::string(size_t gpu)>;
  Allocator(ClassOption cls, const ResourceModel* model, HealthBoard* board, Probe probe,
            const ControllerClient* controller, HostFiles files)
      : class_(std::move(cls)),
        model_(model),
        board_(board),
        probe_(std::move(probe)),
        controller_(controller),
        files_(std::move(files)) {}

  // All containers of the request or none: on a failure the grants made for
  // earlier containers are revoked. False with *error for the kubelet.
  bool Allocate(const v1beta1::AllocateRequest& request, v1beta1::AllocateResponse* response,
                std::string* error) const;

 private:
  std::optional<Grant> AllocateContainer(const std::vector<std::string>& ids,
                                         v1beta1::ContainerAllocateResponse* out, std::string* error) const;
  // Revokes this plugin's older grants of the resource that share a device
  // with `fresh`: the kubelet hands out a device again only after its last
  // holder is gone, so they are stale.
  void RevokeSuperseded(const Grant& fresh) const;

  ClassOption class_;
  const ResourceModel* model_;
  HealthBoard* board_;
  Probe probe_;
  const ControllerClient* controller_;
  HostFiles files_;
};

}  // namespace tgs::device_plugin
