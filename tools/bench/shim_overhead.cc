// What the shim adds to a kernel launch and to an allocation+free pair,
// measured against calling the simulated driver directly, in one process and
// one run. Both paths reach the same driver instance: the shim is dlopen()ed
// with TGS_REAL_LIBCUDA pointing at the simulated driver loaded here.
//
//   tgs-bench-shim-overhead [--shim PATH] [--driver PATH] [--controller PATH]
//                           [--under-controller] [google-benchmark flags]
//
// By default the shim accounts locally (no controller). With
// --under-controller the bench first starts a tgs-controller of its own (the
// build tree's, or --controller PATH) and the shim registers with it as a
// production container, so the launch path includes production's node-board
// work (launch_meter.h: NoteProductionLaunch). Registration is verified, and
// the bench exits 2 rather than measure the wrong path.
//
// Prints which mode ran, Google Benchmark's table, then one summary line per
// operation: direct ns, shim ns, added ns and the ratio shim/direct.
#include <benchmark/benchmark.h>
#include <cuda.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shim/state/node_board.h"

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

// Stops the controller (--under-controller) and removes the temporary files;
// run on every exit after they exist.
void (*g_cleanup)() = [] {};
[[noreturn]] void Fail() {
  g_cleanup();
  std::exit(2);
}

Api Load(void* handle, const char* what) {
  Api api{};
  auto get = [&](const char* name) {
    void* p = dlsym(handle, name);
    if (p == nullptr) {
      std::fprintf(stderr, "tgs-bench: %s lacks %s\n", what, name);
      Fail();
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
    Fail();
  }
}

// --under-controller: a tgs-controller of the bench's own, in a temporary
// directory, that makes container "bench" production and trusts the id the
// shim claims (TGS_CONTAINER_ID), so neither root nor cgroups are needed.
// The memory limit matches TGS_MEMORY_LIMIT of the local mode (which the
// controller's policy replaces), so both modes take the same allocation path.
class Controller {
 public:
  explicit Controller(std::string dir) : dir_(std::move(dir)) {}
  ~Controller() { Stop(); }

  std::string socket() const { return dir_ + "/tgs.sock"; }
  std::string log_path() const { return dir_ + "/controller.log"; }
  std::string board_path() const { return dir_ + "/state/" + tgs::state::kBoardFileName; }

  bool Start(const std::string& binary) {
    std::string config = dir_ + "/config.yaml";
    std::ofstream(config) << "version: 1\n"
                             "defaults: { class: opportunistic }\n"
                             "containers:\n"
                             "  - match: { id: bench }\n"
                             "    class: production\n"
                             "    memory_limit: 8GiB\n";
    std::vector<std::string> args{
        binary, "--config", config, "--socket", socket(), "--state-dir", dir_ + "/state", "--trust-claimed-ids"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Its own environment: nothing of the bench's (TGS_*, LD_PRELOAD) leaks in.
    char path_env[] = "PATH=/usr/bin:/bin", log_env[] = "TGS_LOG=info";
    char* envp[] = {path_env, log_env, nullptr};
    std::string log = log_path();
    pid_t parent = getpid();
    // fork+exec rather than posix_spawn, for PR_SET_PDEATHSIG: the controller
    // goes when the bench dies in any way (Ctrl-C, SIGPIPE, SIGKILL). The
    // bench is single-threaded here (the shim is not loaded yet), and the
    // child makes only async-signal-safe calls.
    pid_ = fork();
    if (pid_ < 0) {
      std::fprintf(stderr, "tgs-bench: fork: %s\n", std::strerror(errno));
      return false;
    }
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(127);
      execve(binary.c_str(), argv.data(), envp);
      static const char msg[] = "tgs-bench: cannot execute the controller\n";
      ssize_t ignored = write(2, msg, sizeof msg - 1);
      (void)ignored;
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {  // up to 3 s for the socket
      if (access(socket().c_str(), F_OK) == 0) return true;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        std::fprintf(stderr, "tgs-bench: %s exited at start; its log:\n%s", binary.c_str(), Log().c_str());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::fprintf(stderr, "tgs-bench: tgs-controller did not create %s within 3 s; its log:\n%s", socket().c_str(),
                 Log().c_str());
    return false;
  }

  // Whether the controller logged this process's registration as production
  // ("pid N of KEY registered: class production (production, ...)").
  bool LoggedProductionRegistration() const {
    std::string pid = "pid " + std::to_string(getpid()) + " of ";
    for (int i = 0; i < 300; ++i) {  // the log line follows the Welcome closely; allow 3 s
      std::istringstream in(Log());
      for (std::string line; std::getline(in, line);) {
        if (line.find(pid) != std::string::npos && line.find(" registered: ") != std::string::npos &&
            line.find("(production") != std::string::npos) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string Log() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

// The node board as the shim's production launches write it, mapped
// read-only: the proof that the measured launches take the production branch.
class BoardView {
 public:
  bool Map(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    void* p = mmap(nullptr, sizeof(tgs::state::NodeBoard), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return false;
    board_ = static_cast<const tgs::state::NodeBoard*>(p);
    return board_->magic.load(std::memory_order_acquire) == tgs::state::kBoardMagic &&
           board_->layout_version == tgs::state::kBoardLayoutVersion;
  }
  // Summed over the claimed GPUs (the shim registers every visible one).
  uint64_t ProductionBlocks() const {
    uint64_t sum = 0;
    for (const auto& g : board_->gpus) {
      if (g.claimed.load(std::memory_order_acquire) == 1) sum += g.production_blocks.load(std::memory_order_acquire);
    }
    return sum;
  }
  int64_t ProductionInflight() const {
    int64_t sum = 0;
    for (const auto& g : board_->gpus) {
      if (g.claimed.load(std::memory_order_acquire) == 1) sum += g.production_inflight.load(std::memory_order_acquire);
    }
    return sum;
  }

 private:
  const tgs::state::NodeBoard* board_ = nullptr;
};

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
  std::string shim_path = TGS_BENCH_SHIM, driver_path = TGS_BENCH_SIM_LIBCUDA, controller_path = TGS_BENCH_CONTROLLER;
  bool under_controller = false;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--shim") && i + 1 < argc) {
      shim_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--driver") && i + 1 < argc) {
      driver_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--controller") && i + 1 < argc) {
      controller_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--under-controller")) {
      under_controller = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  // Static: g_cleanup reaches them from any exit.
  static char state_dir[] = "/tmp/tgs-bench-XXXXXX";
  if (mkdtemp(state_dir) == nullptr) return 2;
  static Controller controller(state_dir);
  static const std::string shm = "tgs-bench-" + std::to_string(getpid());
  g_cleanup = [] {
    controller.Stop();
    shm_unlink(shm.c_str());
    std::error_code ignored;
    std::filesystem::remove_all(state_dir, ignored);
  };
  // The shim registers at cuInit, so the controller must be listening before.
  if (under_controller) {
    if (!controller.Start(controller_path)) Fail();
    setenv("TGS_CONTROLLER_SOCKET", controller.socket().c_str(), 1);
  } else {
    // Nothing listens here: local accounting even on a node that runs
    // tgs-controller at the default socket.
    setenv("TGS_CONTROLLER_SOCKET", (std::string(state_dir) + "/no-controller.sock").c_str(), 1);
  }
  setenv("TGS_SIM_SHM", shm.c_str(), 1);
  setenv("TGS_REAL_LIBCUDA", driver_path.c_str(), 1);
  setenv("TGS_STATE_DIR", state_dir, 1);
  setenv("TGS_CONTAINER_ID", "bench", 1);
  setenv("TGS_MEMORY_LIMIT", "8GiB", 1);  // a limit, so the accounting path is exercised

  void* driver = dlopen(driver_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  void* shim = dlopen(shim_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr || shim == nullptr) {
    std::fprintf(stderr, "tgs-bench: cannot load %s or %s: %s\n", driver_path.c_str(), shim_path.c_str(), dlerror());
    Fail();
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

  BoardView board;
  if (under_controller) {
    // A benchmark that silently measured local accounting would be worse than
    // none: check the registration, then that a launch (and a launch the
    // driver rejects) reaches the production branch of the launch meter.
    auto fail = [&](const char* why) {
      std::fprintf(stderr, "tgs-bench: --under-controller: %s; tgs-controller's log:\n%s", why,
                   controller.Log().c_str());
      Fail();
    };
    if (!controller.LoggedProductionRegistration()) {
      fail("tgs-controller did not log this process's registration as production");
    }
    if (!board.Map(controller.board_path())) fail("cannot map the controller's node board");
    uint64_t before = board.ProductionBlocks();
    Check(g_shim.launch_kernel(g_kernel, 7, 1, 1, 32, 1, 1, 0, g_stream, nullptr, nullptr), "cuLaunchKernel");
    if (board.ProductionBlocks() != before + 7 || board.ProductionInflight() < 1) {
      fail("a launch through the shim did not reach the node board as production work");
    }
    Check(g_shim.stream_synchronize(g_stream), "cuStreamSynchronize");
    g_shim.launch_kernel(nullptr, 5, 1, 1, 32, 1, 1, 0, g_stream, nullptr, nullptr);
    if (board.ProductionBlocks() != before + 12) fail("a rejected launch through the shim skipped the node board");
    Check(g_shim.stream_synchronize(g_stream), "cuStreamSynchronize");
  }

  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  rest.insert(rest.begin() + 1, interleave);
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  std::printf("mode: %s\n\n", under_controller ? "shim registered with tgs-controller as production"
                                                 : "shim with local accounting");
  std::fflush(stdout);
  uint64_t blocks_before = under_controller ? board.ProductionBlocks() : 0;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  if (under_controller) {
    std::printf("  (node board: %llu production blocks counted during the run)\n",
                static_cast<unsigned long long>(board.ProductionBlocks() - blocks_before));
  }
  std::fflush(stdout);
  benchmark::Shutdown();

  if (under_controller) {
    // The shim's watcher would report the lost controller on stderr and try
    // to reconnect; the run is over, so that is noise.
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) dup2(null_fd, 2);
  }
  g_cleanup();
  return 0;
}
