#include "container/device-plugin/allocate.h"

#include <set>

#include <cstring>

#include "container/device-plugin/host_files.h"
#include "shim/util/gpu_uuid.h"
#include "shim/util/log.h"

namespace tgs::device_plugin {
namespace {

std::string Basename(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void AddMount(v1beta1::ContainerAllocateResponse* out, const std::string& container_path,
              const std::string& host_path) {
  v1beta1::Mount* m = out->add_mounts();
  m->set_container_path(container_path);
  m->set_host_path(host_path);
  // Read-only everywhere: a container must not replace the shim, its preload
  // list, the driver or its grant socket.
  m->set_read_only(true);
}

// The controller writes UUIDs in its own spelling; compare the bytes.
bool SameGpus(const std::vector<std::string>& granted, const std::string& uuid) {
  uint8_t a[16], b[16];
  return granted.size() == 1 && ParseGpuUuid(granted[0].c_str(), a) && ParseGpuUuid(uuid.c_str(), b) &&
         std::memcmp(a, b, sizeof a) == 0;
}

}  // namespace

void FillContainerResponse(const Grant& grant, const Gpu& gpu, const HostFiles& files,
                           v1beta1::ContainerAllocateResponse* out) {
  auto& envs = *out->mutable_envs();
  envs["TGS_ALLOCATION"] = grant.id;
  envs["TGS_CLASS"] = grant.class_name;
  envs["NVIDIA_VISIBLE_DEVICES"] = gpu.uuid;
  envs["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility";

  AddMount(out, "/usr/lib/tgs", files.shim_dir);
  AddMount(out, "/etc/ld.so.preload", files.shim_dir + "/ld.so.preload");
  // The directory, never the socket file: a restarted controller's new
  // socket must show through the mount.
  AddMount(out, "/run/tgs", grant.socket_dir);
  for (const std::string& lib : files.driver_libs) AddMount(out, "/usr/local/nvidia/lib64/" + Basename(lib), lib);

  for (const DeviceNode& node : GpuDeviceNodes(files.dev_root, gpu.minor)) {
    v1beta1::DeviceSpec* d = out->add_devices();
    d->set_container_path(node.container_path);
    d->set_host_path(node.host_path);
    d->set_permissions("rw");
  }

  auto& annotations = *out->mutable_annotations();
  annotations["tgs.io/allocation"] = grant.id;
  annotations["tgs.io/class"] = grant.class_name;
  annotations["tgs.io/memory-limit"] = std::to_string(grant.memory_limit_bytes);
}

std::optional<Grant> Allocator::AllocateContainer(const std::vector<std::string>& ids,
                                                  v1beta1::ContainerAllocateResponse* out, std::string* error) const {
  const std::string resource = class_.ResourceName();
  std::string why;
  std::optional<Placement> place = model_->Place(ids, &why);
  if (!place) {
    *error = resource + ": " + why;
    return std::nullopt;
  }
  const Gpu& gpu = model_->gpus()[place->gpu];
  // Ask the GPU now, not only the last probe: a GPU that fell off the bus
  // since must not get a new container.
  std::string sick = probe_(place->gpu);
  board_->Set(place->gpu, sick);
  if (!sick.empty()) {
    *error = resource + ": GPU " + gpu.uuid + " is unhealthy (" + sick + "); its devices cannot be allocated";
    return std::nullopt;
  }

  GrantRequest request;
  request.class_name = class_.name;
  request.memory_limit_bytes = static_cast<uint64_t>(place->units) * kBytesPerUnit;
  request.gpu = gpu.uuid;
  request.devices = ids;
  request.resource = resource;
  std::optional<Grant> grant = controller_->CreateGrant(request, &why);
  if (!grant) {
    *error = resource + ": no grant for " + std::to_string(place->units) + " GiB on " + gpu.uuid + ": " + why;
    return std::nullopt;
  }
  // The controller must have made what was asked: anything else would give
  // the container another class or limit than the kubelet scheduled.
  if (grant->class_name != request.class_name || grant->memory_limit_bytes != request.memory_limit_bytes ||
      !SameGpus(grant->gpus, gpu.uuid)) {
    *error = resource + ": tgs-controller made grant " + grant->id + " with class '" + grant->class_name + "', " +
             std::to_string(grant->memory_limit_bytes) + " bytes, " + std::to_string(grant->gpus.size()) +
             " GPU(s) instead of what was asked";
    std::string ignored;
    controller_->Revoke(grant->id, &ignored);
    return std::nullopt;
  }
  FillContainerResponse(*grant, gpu, files_, out);
  TGS_LOG_INFO("%s: grant %s, %d GiB on %s (%s)", resource.c_str(), grant->id.c_str(), place->units,
               gpu.uuid.c_str(), grant->socket_dir.c_str());
  return grant;
}

void Allocator::RevokeSuperseded(const Grant& fresh) const {
  std::string error;
  std::optional<std::vector<Grant>> grants = controller_->ListGrants(&error);
  if (!grants) {
    TGS_LOG_WARN("cannot look for grants superseded by %s: %s", fresh.id.c_str(), error.c_str());
    return;
  }
  std::set<std::string> devices(fresh.devices.begin(), fresh.devices.end());
  for (const Grant& g : *grants) {
    if (g.id == fresh.id || g.owner != kGrantOwner || g.resource != fresh.resource) continue;
    bool shares = false;
    for (const std::string& d : g.devices) shares = shares || devices.contains(d);
    if (!shares) continue;
    if (controller_->Revoke(g.id, &error)) {
      TGS_LOG_INFO("%s: revoked grant %s, its devices now belong to grant %s", fresh.resource.c_str(), g.id.c_str(),
                   fresh.id.c_str());
    } else {
      TGS_LOG_WARN("%s: cannot revoke superseded grant %s: %s", fresh.resource.c_str(), g.id.c_str(), error.c_str());
    }
  }
}

bool Allocator::Allocate(const v1beta1::AllocateRequest& request, v1beta1::AllocateResponse* response,
                         std::string* error) const {
  if (request.container_requests_size() == 0) {
    *error = class_.ResourceName() + ": Allocate without container requests";
    return false;
  }
  std::vector<Grant> made;
  for (const v1beta1::ContainerAllocateRequest& container : request.container_requests()) {
    std::vector<std::string> ids(container.devices_ids().begin(), container.devices_ids().end());
    std::optional<Grant> grant = AllocateContainer(ids, response->add_container_responses(), error);
    if (!grant) {
      for (const Grant& g : made) {
        std::string ignored;
        controller_->Revoke(g.id, &ignored);
      }
      response->Clear();
      TGS_LOG_WARN("Allocate refused: %s", error->c_str());
      return false;
    }
    made.push_back(std::move(*grant));
  }
  for (const Grant& g : made) RevokeSuperseded(g);
  return true;
}

}  // namespace tgs::device_plugin
