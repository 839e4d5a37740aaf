// tgs-simgpu-ctl: fault injection on a simulated machine. `lose INDEX` makes
// a device fall off the bus (NVML answers NVML_ERROR_GPU_IS_LOST for it, new
// CUDA contexts on it fail), `restore INDEX` brings it back, `status` lists
// the devices. It opens an existing segment only: a mistyped name must not
// create a fresh machine that nobody uses.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shim/util/gpu_uuid.h"
#include "tools/simgpu/segment.h"

namespace {

constexpr const char* kUsage =
    "usage: tgs-simgpu-ctl [--shm NAME] lose|restore INDEX\n"
    "       tgs-simgpu-ctl [--shm NAME] status\n"
    "  lose INDEX     the device falls off the bus: NVML answers GPU_IS_LOST for it,\n"
    "                 new CUDA contexts on it fail with CUDA_ERROR_DEVICE_UNAVAILABLE\n"
    "  restore INDEX  the device answers again\n"
    "  status         one line per device: index, UUID, ok or lost\n"
    "  --shm NAME     the simulated machine's segment (default: $TGS_SIM_SHM, else tgs-simgpu)\n";

int Usage(const std::string& error) {
  std::fprintf(stderr, "tgs-simgpu-ctl: %s\n%s", error.c_str(), kUsage);
  return 2;
}

// Maps the named segment if it exists and has this build's layout.
simgpu::Segment* OpenExisting(const std::string& name, std::string* error) {
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) {
    *error = "cannot open simulated GPU segment '" + name + "': " + std::strerror(errno) +
             (errno == ENOENT ? " (no process has initialised that simulated machine yet)" : "");
    return nullptr;
  }
  void* p = mmap(nullptr, sizeof(simgpu::Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    *error = "cannot map '" + name + "': " + std::strerror(errno);
    return nullptr;
  }
  auto* seg = static_cast<simgpu::Segment*>(p);
  if (seg->magic.load(std::memory_order_acquire) != simgpu::kMagic) {
    *error = "'" + name + "' is not an initialised simulated GPU segment";
  } else if (seg->layout_version != simgpu::kLayoutVersion || seg->layout_size != sizeof(simgpu::Segment)) {
    *error = "'" + name + "' has layout " + std::to_string(seg->layout_version) + ", this tool expects " +
             std::to_string(simgpu::kLayoutVersion);
  } else {
    return seg;
  }
  munmap(p, sizeof(simgpu::Segment));
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string shm;
  if (const char* env = std::getenv("TGS_SIM_SHM"); env != nullptr && *env != '\0') shm = env;
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!args.empty() && args[0] == "--shm") {
    if (args.size() < 2 || args[1].empty()) return Usage("--shm needs a segment name");
    shm = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (shm.empty()) shm = "tgs-simgpu";
  if (shm[0] != '/') shm.insert(0, "/");
  if (args.empty()) return Usage("missing command");
  const std::string command = args[0];
  if (command != "lose" && command != "restore" && command != "status") {
    return Usage("unknown command '" + command + "'");
  }
  if (command == "status" ? args.size() != 1 : args.size() != 2) {
    return Usage(command == "status" ? "status takes no argument" : command + " needs exactly one device INDEX");
  }

  std::string error;
  simgpu::Segment* seg = OpenExisting(shm, &error);
  if (seg == nullptr) {
    std::fprintf(stderr, "tgs-simgpu-ctl: %s\n", error.c_str());
    return 1;
  }
  if (command == "status") {
    for (int i = 0; i < seg->device_count; ++i) {
      bool lost = seg->devices[i].lost.load(std::memory_order_acquire) != 0;
      std::printf("%d %s %s\n", i, tgs::FormatGpuUuid(seg->devices[i].uuid).c_str(), lost ? "lost" : "ok");
    }
    return 0;
  }
  char* end = nullptr;
  errno = 0;
  long index = std::strtol(args[1].c_str(), &end, 10);
  if (args[1].empty() || *end != '\0' || errno != 0 || index < 0 || index >= seg->device_count) {
    std::fprintf(stderr, "tgs-simgpu-ctl: INDEX '%s' is not a device of '%s' (it has %d: 0..%d)\n", args[1].c_str(),
                 shm.c_str(), seg->device_count, seg->device_count - 1);
    return 2;
  }
  seg->devices[index].lost.store(command == "lose" ? 1 : 0, std::memory_order_release);
  std::printf("device %ld (%s) %s\n", index, tgs::FormatGpuUuid(seg->devices[index].uuid).c_str(),
              command == "lose" ? "lost" : "restored");
  return 0;
}
