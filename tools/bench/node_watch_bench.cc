// tgs-bench-node-watch: what the eBPF node watch costs the processes it
// watches, measured in one process and one run against the simulated driver:
//   - without the watch;
//   - with the watch as tgs-controller runs it (exit tracepoint, open
//     detection at syscall entry, a uprobe on the driver's cuInit);
//   - with extra uprobes on cuMemAlloc_v2 and cuLaunchKernel, which the
//     watch deliberately does not attach (this column says why).
// Per-call times are the best of 7 rounds (ns); off and on alternate five
// times and the medians are compared. Needs root (CAP_BPF,
// CAP_PERFMON, CAP_SYS_ADMIN for uprobes); without, it says so and exits 0.
// A benchmark, not a test: it asserts nothing.
#include <cuda.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "controller/watch/node_watch.h"

namespace {

struct Api {
  decltype(&cuInit) init;
  decltype(&cuDeviceGet) device_get;
  decltype(&cuDevicePrimaryCtxRetain) primary_ctx_retain;
  decltype(&cuCtxSetCurrent) ctx_set_current;
  decltype(&cuLaunchKernel) launch_kernel;
  decltype(&cuMemAlloc_v2) mem_alloc;
  decltype(&cuMemFree_v2) mem_free;
};

template <typename F>
void Load(void* h, F* out, const char* name) {
  *out = reinterpret_cast<F>(dlsym(h, name));
  if (*out == nullptr) {
    std::fprintf(stderr, "tgs-bench-node-watch: the driver lacks %s\n", name);
    std::exit(1);
  }
}

// Best of 7 rounds of `n` calls, in ns per call.
double PerCall(long n, const std::function<void()>& call) {
  double best = 1e18;
  for (int round = 0; round < 7; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) call();
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
    best = std::min(best, ns);
  }
  return best;
}

struct Row {
  double launch, alloc, open, getpid;
};

}  // namespace

int main(int argc, char** argv) {
  std::string driver = std::string(TGS_BENCH_SIMDIR) + "/libcuda.so.1";
  long n = 200000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      n = 20000;
    } else {
      std::printf("usage: tgs-bench-node-watch [--quick]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  std::string shm = "tgs-bench-watch-" + std::to_string(getpid());
  setenv("TGS_SIM_SHM", shm.c_str(), 1);
  setenv("TGS_SIM_MEMORY", "4GiB", 1);
  void* h = dlopen(driver.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::fprintf(stderr, "tgs-bench-node-watch: %s\n", dlerror());
    return 1;
  }
  Api api;
  Load(h, &api.init, "cuInit");
  Load(h, &api.device_get, "cuDeviceGet");
  Load(h, &api.primary_ctx_retain, "cuDevicePrimaryCtxRetain");
  Load(h, &api.ctx_set_current, "cuCtxSetCurrent");
  Load(h, &api.launch_kernel, "cuLaunchKernel");
  Load(h, &api.mem_alloc, "cuMemAlloc_v2");
  Load(h, &api.mem_free, "cuMemFree_v2");
  CUdevice dev;
  CUcontext ctx;
  if (api.init(0) != CUDA_SUCCESS || api.device_get(&dev, 0) != CUDA_SUCCESS ||
      api.primary_ctx_retain(&ctx, dev) != CUDA_SUCCESS || api.ctx_set_current(ctx) != CUDA_SUCCESS) {
    std::fprintf(stderr, "tgs-bench-node-watch: the simulated driver did not initialise\n");
    return 1;
  }
  auto measure = [&] {
    Row r;
    // A launch the driver rejects at once (no function): the call path alone.
    r.launch = PerCall(n, [&] { api.launch_kernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr); });
    r.alloc = PerCall(n / 10, [&] {
      CUdeviceptr p = 0;
      if (api.mem_alloc(&p, 1 << 20) == CUDA_SUCCESS) api.mem_free(p);
    });
    r.open = PerCall(n / 10, [] {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd >= 0) close(fd);
    });
    r.getpid = PerCall(n, [] { (void)syscall(SYS_getpid); });
    return r;
  };

  // Watch off and on alternately, five times each; medians. (Attaching and
  // detaching takes milliseconds; this machine's noise is larger than the
  // effect on a syscall, so one pair would say little.)
  tgs::controller::NodeWatchOptions options;
  options.device_prefixes = {"/dev/nvidia-uvm", "/dev/shm/" + shm};
  options.driver_libraries = {driver};
  std::vector<Row> offs, ons;
  std::string why;
  for (int pair = 0; pair < 5; ++pair) {
    offs.push_back(measure());
    auto watch = tgs::controller::NodeWatch::Start(options, &why);
    if (watch == nullptr) {
      std::printf("tgs-bench-node-watch: the node watch cannot run here: %s\n", why.c_str());
      dlclose(h);
      return 0;
    }
    ons.push_back(measure());
  }
  auto median = [](std::vector<Row> rows, double Row::*field) {
    std::vector<double> v;
    for (const Row& r : rows) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  Row off{median(offs, &Row::launch), median(offs, &Row::alloc), median(offs, &Row::open), median(offs, &Row::getpid)};
  Row on{median(ons, &Row::launch), median(ons, &Row::alloc), median(ons, &Row::open), median(ons, &Row::getpid)};
  options.driver_functions = {"cuInit", "cuMemAlloc_v2", "cuLaunchKernel"};
  auto watch = tgs::controller::NodeWatch::Start(options, &why);
  Row launch_probe = watch != nullptr ? measure() : Row{0, 0, 0, 0};
  watch.reset();

  std::printf("tgs-bench-node-watch: ns per call (best of 7 rounds; off/on medians of 5 alternations), simulated driver in-process\n");
  std::printf("%-44s %12s %12s %10s %22s\n", "operation", "no watch", "watch", "added", "+ alloc/launch uprobes");
  auto row = [](const char* name, double a, double b, double c) {
    std::printf("%-44s %12.1f %12.1f %+10.1f %22.1f\n", name, a, b, b - a, c);
  };
  row("cuLaunchKernel (rejected at once)", off.launch, on.launch, launch_probe.launch);
  row("cuMemAlloc + cuMemFree, 1 MiB", off.alloc, on.alloc, launch_probe.alloc);
  row("open + close of /dev/null (sys_enter)", off.open, on.open, launch_probe.open);
  row("getpid (sys_enter, not an open)", off.getpid, on.getpid, launch_probe.getpid);
  dlclose(h);
  return 0;
}
