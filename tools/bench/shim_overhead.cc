// What the shim adds to a kernel launch and to an allocation+free pair,
// measured against calling the simulated driver directly, in one process and
// one run. Both paths reach the same driver instance: the shim is dlopen()ed
// with TGS_REAL_LIBCUDA pointing at the simulated driver loaded here.
//
//   tgs-bench-shim-overhead [--shim PATH] [--driver PATH] [google-benchmark flags]
//
// Prints Google Benchmark's table, then one summary line per operation:
// direct ns, shim ns, added ns and the ratio shim/direct.
#include <benchmark/benchmark.h>
#include <cuda.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace {

struct Api {
  decltype(&cuInit) init;
  decltype(&cuDeviceGet) device_get;
  decltype(&cuDevicePrimaryCtxRetain) primary_ctx_retain;
  decltype(&cuCtxSetCurrent) ctx_set_current;
  decltype(&cuModuleLoadData) module_load_data;
  decltype(&cuModuleGetFunction) module_get_function;
  decltype(&cuStreamCreate) stream_create;
  decltype(&cuStreamSynchronize) stream_synchronize;
  decltype(&cuLaunchKernel) launch_kernel;
  decltype(&cuMemAlloc_v2) mem_alloc;
  decltype(&cuMemFree_v2) mem_free;
};

Api Load(void* handle, const char* what) {
  Api api{};
  auto get = [&](const char* name) {
    void* p = dlsym(handle, name);
    if (p == nullptr) {
      std::fprintf(stderr, "tgs-bench: %s lacks %s\n", what, name);
      std::exit(2);
    }
    return p;
  };
  api.init = reinterpret_cast<decltype(api.init)>(get("cuInit"));
  api.device_get = reinterpret_cast<decltype(api.device_get)>(get("cuDeviceGet"));
  api.primary_ctx_retain = reinterpret_cast<decltype(api.primary_ctx_retain)>(get("cuDevicePrimaryCtxRetain"));
  api.ctx_set_current = reinterpret_cast<decltype(api.ctx_set_current)>(get("cuCtxSetCurrent"));
  api.module_load_data = reinterpret_cast<decltype(api.module_load_data)>(get("cuModuleLoadData"));
  api.module_get_function = reinterpret_cast<decltype(api.module_get_function)>(get("cuModuleGetFunction"));
  api.stream_create = reinterpret_cast<decltype(api.stream_create)>(get("cuStreamCreate"));
  api.stream_synchronize = reinterpret_cast<decltype(api.stream_synchronize)>(get("cuStreamSynchronize"));
  api.launch_kernel = reinterpret_cast<decltype(api.launch_kernel)>(get("cuLaunchKernel"));
  api.mem_alloc = reinterpret_cast<decltype(api.mem_alloc)>(get("cuMemAlloc_v2"));
  api.mem_free = reinterpret_cast<decltype(api.mem_free)>(get("cuMemFree_v2"));
  return api;
}

Api g_direct, g_shim;
CUfunction g_kernel;
CUstream g_stream;

void Check(CUresult r, const char* what) {
  if (r != CUDA_SUCCESS) {
    std::fprintf(stderr, "tgs-bench: %s failed with CUDA error %d\n", what, static_cast<int>(r));
    std::exit(2);
  }
}

// Launches of a zero-length kernel: the driver's own launch path plus the
// shim's metering. A synchronisation every 256 launches (outside the timed
// region) keeps the stream's queue from filling, so the launch is measured,
// not the simulated device draining its queue. The iteration count is fixed
// because the untimed synchronisations would otherwise make Google Benchmark
// choose millions of launches.
void Launch(benchmark::State& state, const Api& api) {
  int n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(api.launch_kernel(g_kernel, 1, 1, 1, 32, 1, 1, 0, g_stream, nullptr, nullptr));
    if (++n == 256) {
      state.PauseTiming();
      api.stream_synchronize(g_stream);
      state.ResumeTiming();
      n = 0;
    }
  }
  api.stream_synchronize(g_stream);
}
void BM_LaunchDirect(benchmark::State& state) { Launch(state, g_direct); }
void BM_LaunchShim(benchmark::State& state) { Launch(state, g_shim); }

// A launch the driver rejects at once (no function): the driver does almost
// nothing, while the shim still does all of its per-launch work (context
// lookup, per-thread cache, counters). The difference is the hook's cost
// without the simulated driver's enqueue noise around it.
void LaunchRejected(benchmark::State& state, const Api& api) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(api.launch_kernel(nullptr, 1, 1, 1, 32, 1, 1, 0, g_stream, nullptr, nullptr));
  }
}
void BM_LaunchRejectedDirect(benchmark::State& state) { LaunchRejected(state, g_direct); }
void BM_LaunchRejectedShim(benchmark::State& state) { LaunchRejected(state, g_shim); }

void AllocFree(benchmark::State& state, const Api& api) {
  for (auto _ : state) {
    CUdeviceptr p;
    benchmark::DoNotOptimize(api.mem_alloc(&p, 1 << 20));
    api.mem_free(p);
  }
}
void BM_AllocFreeDirect(benchmark::State& state) { AllocFree(state, g_direct); }
void BM_AllocFreeShim(benchmark::State& state) { AllocFree(state, g_shim); }

// Repetitions are randomly interleaved (see main) so that drift in the
// machine's speed and warm-up effects affect direct and shim runs alike.
constexpr int kRepetitions = 9;
BENCHMARK(BM_LaunchDirect)->Iterations(200000)->Repetitions(kRepetitions)->ReportAggregatesOnly(true);
BENCHMARK(BM_LaunchShim)->Iterations(200000)->Repetitions(kRepetitions)->ReportAggregatesOnly(true);
BENCHMARK(BM_LaunchRejectedDirect)->Repetitions(kRepetitions)->ReportAggregatesOnly(true);
BENCHMARK(BM_LaunchRejectedShim)->Repetitions(kRepetitions)->ReportAggregatesOnly(true);
BENCHMARK(BM_AllocFreeDirect)->Repetitions(kRepetitions)->ReportAggregatesOnly(true);
BENCHMARK(BM_AllocFreeShim)->Repetitions(kRepetitions)->ReportAggregatesOnly(true);

// Keeps the medians so the summary can put direct and shim side by side.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.aggregate_name == "median") medians_[r.run_name.function_name] = r.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void PrintSummary() const {
    std::printf("\nshim overhead (medians of %d interleaved repetitions, same process, same simulated driver):\n",
                kRepetitions);
    Print("cuLaunchKernel", "BM_LaunchDirect", "BM_LaunchShim");
    Print("cuLaunchKernel (hook)", "BM_LaunchRejectedDirect", "BM_LaunchRejectedShim");
    Print("cuMemAlloc+cuMemFree", "BM_AllocFreeDirect", "BM_AllocFreeShim");
  }

 private:
  void Print(const char* op, const char* direct, const char* shim) const {
    auto d = medians_.find(direct), s = medians_.find(shim);
    if (d == medians_.end() || s == medians_.end()) return;
    std::printf("  %-22s direct %9.1f ns   shim %9.1f ns   added %+8.1f ns   ratio %.3f\n", op, d->second, s->second,
                s->second - d->second, s->second / d->second);
  }
  std::map<std::string, double> medians_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string shim_path = TGS_BENCH_SHIM, driver_path = TGS_BENCH_SIM_LIBCUDA;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--shim") && i + 1 < argc) {
      shim_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--driver") && i + 1 < argc) {
      driver_path = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  char state_dir[] = "/tmp/tgs-bench-XXXXXX";
  if (mkdtemp(state_dir) == nullptr) return 2;
  std::string shm = "tgs-bench-" + std::to_string(getpid());
  setenv("TGS_SIM_SHM", shm.c_str(), 1);
  setenv("TGS_REAL_LIBCUDA", driver_path.c_str(), 1);
  setenv("TGS_STATE_DIR", state_dir, 1);
  setenv("TGS_CONTAINER_ID", "bench", 1);
  setenv("TGS_MEMORY_LIMIT", "8GiB", 1);  // a limit, so the accounting path is exercised

  void* driver = dlopen(driver_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  void* shim = dlopen(shim_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr || shim == nullptr) {
    std::fprintf(stderr, "tgs-bench: cannot load %s or %s: %s\n", driver_path.c_str(), shim_path.c_str(), dlerror());
    return 2;
  }
  g_direct = Load(driver, "the simulated driver");
  g_shim = Load(shim, "the shim");

  Check(g_shim.init(0), "cuInit through the shim");
  CUdevice dev;
  CUcontext ctx;
  CUmodule module;
  Check(g_shim.device_get(&dev, 0), "cuDeviceGet");
  Check(g_shim.primary_ctx_retain(&ctx, dev), "cuDevicePrimaryCtxRetain");
  Check(g_shim.ctx_set_current(ctx), "cuCtxSetCurrent");
  Check(g_shim.module_load_data(&module, "simgpu-module 1\nkernel empty 0\n"), "cuModuleLoadData");
  Check(g_shim.module_get_function(&g_kernel, module, "empty"), "cuModuleGetFunction");
  Check(g_shim.stream_create(&g_stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");

  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  rest.insert(rest.begin() + 1, interleave);
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();

  shm_unlink(shm.c_str());
  std::error_code ignored;
  std::filesystem::remove_all(state_dir, ignored);
  return 0;
}
