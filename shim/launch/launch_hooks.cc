// Every kernel launch path of the driver API, gated (opportunistic
// containers) and metered on its way to the driver. A graph launch counts
// the kernels and blocks of the graph's kernel nodes (graph_cost.h).
#include "shim/interpose/hooks.h"
#include "shim/launch/graph_cost.h"
#include "shim/launch/launch_meter.h"

namespace tgs {
namespace launch {

thread_local ThreadLaunchCache tls_launch_cache __attribute__((tls_model("initial-exec")));

bool FillCache(CUcontext ctx, ThreadLaunchCache* cache) {
  Runtime& rt = Runtime::Get();
  int gpu = rt.GpuForCurrentContext();
  state::ProcessSlot* slot = rt.process_slot();
  if (gpu < 0 || slot == nullptr) return false;
  cache->ctx = ctx;
  cache->generation = Runtime::fork_generation();
  cache->counters = &slot->gpu[gpu];
  cache->gpu = gpu;
  bool gated = rt.under_controller() && rt.policy().kind == protocol::ClassKind::kOpportunistic;
  cache->gate = gated ? &rt.state_file()->state().gpus[gpu] : nullptr;
  cache->board = rt.board_gpu(gpu);
  cache->production_inflight = rt.production_inflight(gpu);
  return true;
}

void MarkProductionBusy(std::atomic<bool>& inflight, state::BoardGpu& board) {
  // The caller stamped the launch instant first: a reader that sees the
  // count raised does not find it stale.
  if (!inflight.exchange(true, std::memory_order_acq_rel)) {
    board.production_inflight.fetch_add(1, std::memory_order_release);
    board.production_busy_periods.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace launch

namespace hooks {
namespace {
const RealCuda& Real() { return Runtime::Get().real(); }
}  // namespace

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void** params,
                        void** extra) {
  const RealCuda& real = Real();
  launch::Meter(real, 1, launch::Blocks(gx, gy, gz), s);
  return CallReal(real.cuLaunchKernel, f, gx, gy, gz, bx, by, bz, shmem, s, params, extra);
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                             unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void** params,
                             void** extra) {
  const RealCuda& real = Real();
  launch::Meter(real, 1, launch::Blocks(gx, gy, gz), s, true);
  return CallReal(real.cuLaunchKernel_ptsz, f, gx, gy, gz, bx, by, bz, shmem, s, params, extra);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  const RealCuda& real = Real();
  if (config != nullptr) {
    launch::Meter(real, 1, launch::Blocks(config->gridDimX, config->gridDimY, config->gridDimZ), config->hStream);
  }
  return CallReal(real.cuLaunchKernelEx, config, f, params, extra);
}

CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  const RealCuda& real = Real();
  if (config != nullptr) {
    launch::Meter(real, 1, launch::Blocks(config->gridDimX, config->gridDimY, config->gridDimZ), config->hStream,
                  true);
  }
  return CallReal(real.cuLaunchKernelEx_ptsz, config, f, params, extra);
}

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                   unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void** params) {
  const RealCuda& real = Real();
  launch::Meter(real, 1, launch::Blocks(gx, gy, gz), s);
  return CallReal(real.cuLaunchCooperativeKernel, f, gx, gy, gz, bx, by, bz, shmem, s, params);
}

CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                        unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                                        CUstream s, void** params) {
  const RealCuda& real = Real();
  launch::Meter(real, 1, launch::Blocks(gx, gy, gz), s, true);
  return CallReal(real.cuLaunchCooperativeKernel_ptsz, f, gx, gy, gz, bx, by, bz, shmem, s, params);
}

CUresult cuLaunchCooperativeKernelMultiDevice(CUDA_LAUNCH_PARAMS* list, unsigned int numDevices, unsigned int flags) {
  const RealCuda& real = Real();
  if (list != nullptr) {
    for (unsigned int i = 0; i < numDevices; ++i) {
      launch::Meter(real, 1, launch::Blocks(list[i].gridDimX, list[i].gridDimY, list[i].gridDimZ), list[i].hStream);
    }
  }
  return CallReal(real.cuLaunchCooperativeKernelMultiDevice, list, numDevices, flags);
}

CUresult cuLaunch(CUfunction f) {
  const RealCuda& real = Real();
  launch::Meter(real, 1, 1);
  return CallReal(real.cuLaunch, f);
}

CUresult cuLaunchGrid(CUfunction f, int w, int h) {
  const RealCuda& real = Real();
  launch::Meter(real, 1, launch::Blocks(w > 0 ? w : 0, h > 0 ? h : 0, 1));
  return CallReal(real.cuLaunchGrid, f, w, h);
}

CUresult cuLaunchGridAsync(CUfunction f, int w, int h, CUstream s) {
  const RealCuda& real = Real();
  launch::Meter(real, 1, launch::Blocks(w > 0 ? w : 0, h > 0 ? h : 0, 1), s);
  return CallReal(real.cuLaunchGridAsync, f, w, h, s);
}

CUresult cuGraphLaunch(CUgraphExec exec, CUstream s) {
  const RealCuda& real = Real();
  launch::GraphCost cost = launch::GraphCosts().Find(reinterpret_cast<uint64_t>(exec));
  launch::Meter(real, cost.kernels, cost.blocks, s);
  return CallReal(real.cuGraphLaunch, exec, s);
}

CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream s) {
  const RealCuda& real = Real();
  launch::GraphCost cost = launch::GraphCosts().Find(reinterpret_cast<uint64_t>(exec));
  launch::Meter(real, cost.kernels, cost.blocks, s, true);
  return CallReal(real.cuGraphLaunch_ptsz, exec, s);
}

}  // namespace hooks
}  // namespace tgs
