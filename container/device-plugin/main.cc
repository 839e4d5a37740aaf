// tgs-device-plugin: see README.md beside this file.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "container/device-plugin/allocate.h"
#include "container/device-plugin/controller_client.h"
#include "container/device-plugin/gpu_inventory.h"
#include "container/device-plugin/health_monitor.h"
#include "container/device-plugin/host_files.h"
#include "container/device-plugin/options.h"
#include "container/device-plugin/plugin_server.h"
#include "container/device-plugin/pod_labels.h"
#include "container/device-plugin/registration.h"
#include "container/device-plugin/resource_model.h"
#include "shim/util/byte_size.h"
#include "shim/util/log.h"

using namespace tgs::device_plugin;

namespace {

constexpr int kExitStartup = 1;
constexpr int kExitUsage = 2;

// Everything one served class needs beyond the shared parts.
struct ServedClass {
  ClassOption cls;
  std::unique_ptr<ResourceModel> model;
  std::unique_ptr<Allocator> allocator;
};

}  // namespace

int main(int argc, char** argv) {
  tgs::SetLogTag("tgs-device-plugin");
  ParseResult parsed = ParseArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "tgs-device-plugin: %s\n", parsed.error.c_str());
    return kExitUsage;
  }
  if (parsed.help) {
    std::fputs(Usage(), stdout);
    return 0;
  }
  if (std::string bad_log = tgs::TgsLogError(); !bad_log.empty()) {
    std::fprintf(stderr, "tgs-device-plugin: %s\n", bad_log.c_str());
    return kExitUsage;
  }
  const Options& options = parsed.options;

  std::string error;
  if (!CheckShimDir(options.shim_dir, &error)) {
    std::fprintf(stderr, "tgs-device-plugin: %s\n", error.c_str());
    return kExitUsage;
  }
  HostFiles files{options.shim_dir, options.driver_libs, options.dev_root};
  if (options.driver_libs_given) {
    if (!CheckDriverLibraries(files.driver_libs, &error)) {
      std::fprintf(stderr, "tgs-device-plugin: %s\n", error.c_str());
      return kExitUsage;
    }
  } else {
    std::vector<std::string> notes;
    files.driver_libs = FindDriverLibraries(&notes);
    for (const std::string& note : notes) TGS_LOG_INFO("driver libraries: %s", note.c_str());
  }
  for (const std::string& lib : files.driver_libs) TGS_LOG_INFO("containers get %s", lib.c_str());

  std::unique_ptr<GpuInventory> nvml = GpuInventory::Open(options.nvml_library, &error);
  if (!nvml) {
    std::fprintf(stderr, "tgs-device-plugin: %s\n", error.c_str());
    return kExitStartup;
  }
  std::vector<std::string> left_out;
  std::optional<std::vector<Gpu>> gpus = nvml->Discover(&left_out, &error);
  if (!gpus) {
    std::fprintf(stderr, "tgs-device-plugin: %s\n", error.c_str());
    return kExitStartup;
  }
  for (const std::string& why : left_out) {
    TGS_LOG_ERROR("%s: left out until the plugin restarts (it does not answer)", why.c_str());
  }
  if (gpus->empty() && !left_out.empty()) {
    std::fprintf(stderr, "tgs-device-plugin: no GPU answers NVML (%s)\n", nvml->path().c_str());
    return kExitStartup;
  }
  if (gpus->empty()) {
    TGS_LOG_WARN("NVML (%s) reports no GPU: every resource advertises 0 devices", nvml->path().c_str());
  }
  std::vector<std::string> names;
  for (const Gpu& g : *gpus) {
    names.push_back(g.uuid);
    TGS_LOG_INFO("GPU %u: %s, %s, /dev/nvidia%u", g.index, g.uuid.c_str(), tgs::FormatByteSize(g.memory_bytes).c_str(),
                 g.minor);
  }

  // Signals are taken synchronously by this thread; the gRPC and worker
  // threads inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  HealthBoard board(gpus->size());
  auto probe = [&](size_t gpu) { return nvml->Probe((*gpus)[gpu].uuid); };
  HealthMonitor health(&board, names, probe, std::chrono::milliseconds(options.health_interval_ms));
  health.Start();

  ControllerClient controller(options.admin_socket);
  std::vector<ServedClass> served;
  std::set<std::string> resources;
  for (const ClassOption& cls : options.classes) {
    ServedClass s{cls, std::make_unique<ResourceModel>(*gpus, cls.overcommit), nullptr};
    s.allocator = std::make_unique<Allocator>(cls, s.model.get(), &board, probe, &controller, files);
    int devices = static_cast<int>(s.model->DeviceIds().size());
    TGS_LOG_INFO("%s: %d devices (overcommit %g)", cls.ResourceName().c_str(), devices, cls.overcommit);
    resources.insert(cls.ResourceName());
    served.push_back(std::move(s));
  }
  if (std::optional<std::vector<Grant>> grants = controller.ListGrants(&error); !grants) {
    TGS_LOG_WARN("%s; Allocate fails until it answers", error.c_str());
  }

  PluginLifecycle lifecycle(options.KubeletSocket(), options.classes, [&](const ClassOption& cls) {
    for (ServedClass& s : served) {
      if (s.cls.name == cls.name) {
        return std::make_unique<PluginServer>(cls, options.kubelet_dir + "/" + cls.SocketName(), s.model.get(),
                                              &board, s.allocator.get());
      }
    }
    return std::unique_ptr<PluginServer>();  // unreachable: every class is served
  });

  std::unique_ptr<GrantKeeper> keeper;
  if (options.pod_resources_socket.empty()) {
    TGS_LOG_WARN("--pod-resources-socket \"\": grants are not labelled and never revoked by the plugin");
  } else {
    keeper = std::make_unique<GrantKeeper>(options.pod_resources_socket, resources, &controller,
                                           std::chrono::milliseconds(options.grant_grace_ms));
    keeper->Start(std::chrono::milliseconds(options.label_interval_ms));
  }

  TGS_LOG_INFO("started: %zu resource(s), %zu GPU(s), kubelet directory %s", served.size(), gpus->size(),
               options.kubelet_dir.c_str());
  int caught = 0;
  while (caught == 0) {
    lifecycle.Tick();
    timespec tick{0, 200 * 1000 * 1000};
    caught = sigtimedwait(&signals, nullptr, &tick);
    if (caught < 0) caught = 0;  // timeout or EINTR
  }
  TGS_LOG_INFO("signal %d: stopping", caught);
  if (keeper) keeper->Stop();
  lifecycle.StopAll();
  health.Stop();
  return 0;
}
