#include "tools/simgpu/driver.h"

#include <algorithm>
#include <atomic>

#include "shim/util/env.h"
#include "shim/util/log.h"
#include "tools/simgpu/ledger.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/registry.h"
#include "tools/simgpu/stream.h"

namespace simgpu {

namespace {
// CUDA_MPS_ACTIVE_THREAD_PERCENTAGE of this process, 100 without MPS.
std::atomic<int> g_mps_percent{100};
}  // namespace

// Read at cuInit, as an MPS client reads it when it connects. Without an MPS
// daemon (TGS_SIM_MPS) the variable means nothing, as on a real node.
static bool ReadMpsPercentage(Segment* seg) {
  if (seg->mps == 0) return true;
  auto percent = tgs::EnvInteger("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", 1, 100);
  if (!percent.error.empty()) {
    TGS_LOG_ERROR("%s", percent.error.c_str());
    return false;
  }
  if (percent.value) g_mps_percent.store(static_cast<int>(*percent.value), std::memory_order_relaxed);
  return true;
}

namespace {

std::atomic<bool> g_initialized{false};
std::mutex g_init_mu;  // serialises cuInit

struct Primaries {
  std::mutex mu;  // guards ctx
  std::shared_ptr<Context> ctx[kMaxDevices];
};

Registry<Context>& Contexts() { return Leaked<Registry<Context>>(); }

thread_local std::vector<CUcontext> t_stack;

}  // namespace

bool Initialized() { return g_initialized.load(std::memory_order_acquire); }

CUresult Init() {
  if (Initialized()) return CUDA_SUCCESS;
  std::lock_guard<std::mutex> guard(g_init_mu);
  if (Initialized()) return CUDA_SUCCESS;
  Segment* seg = AttachSegment();
  if (seg == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!ReadMpsPercentage(seg)) return CUDA_ERROR_INVALID_VALUE;
  if (OwnSlot(seg) == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  g_initialized.store(true, std::memory_order_release);
  return CUDA_SUCCESS;
}

int DeviceCount() {
  Segment* seg = CurrentSegment();
  return seg == nullptr ? 0 : seg->device_count;
}

bool ValidDevice(CUdevice dev) { return dev >= 0 && dev < DeviceCount(); }

int SmCount() {
  Segment* seg = CurrentSegment();
  return seg == nullptr ? 1 : seg->sm_count;
}

int ClientSmCount() {
  int percent = g_mps_percent.load(std::memory_order_relaxed);
  int sms = SmCount();
  return percent >= 100 ? sms : std::max(1, sms * percent / 100);
}

bool MpsPartitioned() { return g_mps_percent.load(std::memory_order_relaxed) < 100; }

std::shared_ptr<Context> FindContext(CUcontext ctx) {
  if (ctx == nullptr) return nullptr;
  auto found = Contexts().Find(ctx);
  if (found == nullptr) return nullptr;
  std::lock_guard<std::mutex> guard(found->mu);
  return found->destroyed ? nullptr : found;
}

CUresult CurrentContext(std::shared_ptr<Context>* out) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  auto ctx = FindContext(StackTop());
  if (ctx == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  *out = std::move(ctx);
  return CUDA_SUCCESS;
}

CUresult CurrentDevice(int* device) {
  std::shared_ptr<Context> ctx;
  CUresult rc = CurrentContext(&ctx);
  if (rc == CUDA_SUCCESS) *device = ctx->device;
  return rc;
}

CUresult CreateContext(int device, unsigned flags, std::shared_ptr<Context>* out) {
  auto ctx = std::make_shared<Context>();
  ctx->device = device;
  ctx->flags = flags;
  ctx->legacy = NewStream(ctx.get(), kLegacyStream, 0);
  ctx->streams.push_back(ctx->legacy);
  Contexts().Add(ctx);
  SetContextFlag(device, true);
  *out = std::move(ctx);
  return CUDA_SUCCESS;
}

CUresult DestroyContext(const std::shared_ptr<Context>& ctx) {
  SynchronizeContext(ctx.get());
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard<std::mutex> guard(ctx->mu);
    if (ctx->destroyed) return CUDA_ERROR_INVALID_CONTEXT;
    ctx->destroyed = true;
    streams.swap(ctx->streams);
  }
  for (auto& s : streams) StopStream(s);
  // Like the real driver, destroying a context frees what was allocated in it.
  FreeContextAllocations(ctx.get());
  if (!ctx->primary) Contexts().Remove(ctx.get());
  StackRemoveEverywhereOnThisThread(ctx.get());
  bool others = !Contexts().Select([&](Context& c) { return c.device == ctx->device && &c != ctx.get(); }).empty();
  if (!others) SetContextFlag(ctx->device, false);
  return CUDA_SUCCESS;
}

std::shared_ptr<Context> PrimaryContext(int device) {
  auto& p = Leaked<Primaries>();
  std::lock_guard<std::mutex> guard(p.mu);
  auto& slot = p.ctx[device];
  if (slot != nullptr) {
    std::lock_guard<std::mutex> g(slot->mu);
    if (!slot->destroyed) return slot;
    // Re-activated after a reset: same handle, fresh state, as the real driver keeps it.
    slot->destroyed = false;
    slot->legacy = NewStream(slot.get(), kLegacyStream, 0);
    slot->streams.push_back(slot->legacy);
    SetContextFlag(device, true);
    return slot;
  }
  std::shared_ptr<Context> ctx;
  CreateContext(device, 0, &ctx);
  ctx->primary = true;
  slot = ctx;
  return slot;
}

CUresult RetainPrimary(int device, CUcontext* out) {
  auto ctx = PrimaryContext(device);
  std::lock_guard<std::mutex> guard(Leaked<Primaries>().mu);
  ++ctx->primary_refs;
  *out = ctx.get();
  return CUDA_SUCCESS;
}

CUresult ReleasePrimary(int device) {
  std::shared_ptr<Context> doomed;
  {
    auto& p = Leaked<Primaries>();
    std::lock_guard<std::mutex> guard(p.mu);
    auto& ctx = p.ctx[device];
    if (ctx == nullptr || ctx->primary_refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
    if (--ctx->primary_refs == 0) doomed = ctx;
  }
  if (doomed != nullptr) DestroyContext(doomed);
  return CUDA_SUCCESS;
}

CUresult ResetPrimary(int device) {
  std::shared_ptr<Context> doomed;
  {
    auto& p = Leaked<Primaries>();
    std::lock_guard<std::mutex> guard(p.mu);
    doomed = p.ctx[device];
    if (doomed != nullptr) doomed->primary_refs = 0;
  }
  if (doomed != nullptr && FindContext(doomed.get()) != nullptr) DestroyContext(doomed);
  return CUDA_SUCCESS;
}

void PrimaryState(int device, unsigned* flags, int* active) {
  auto& p = Leaked<Primaries>();
  std::lock_guard<std::mutex> guard(p.mu);
  auto& ctx = p.ctx[device];
  *flags = ctx == nullptr ? 0 : ctx->primary_flags;
  *active = ctx != nullptr && ctx->primary_refs > 0 ? 1 : 0;
}

void SetPrimaryFlags(int device, unsigned flags) {
  auto ctx = PrimaryContext(device);
  std::lock_guard<std::mutex> guard(Leaked<Primaries>().mu);
  ctx->primary_flags = flags;
  ctx->flags = flags;
}

CUcontext StackTop() { return t_stack.empty() ? nullptr : t_stack.back(); }

void StackSetTop(CUcontext ctx) {
  if (ctx == nullptr) {
    if (!t_stack.empty()) t_stack.pop_back();
    return;
  }
  if (t_stack.empty()) {
    t_stack.push_back(ctx);
  } else {
    t_stack.back() = ctx;
  }
}

void StackPush(CUcontext ctx) { t_stack.push_back(ctx); }

CUcontext StackPop() {
  if (t_stack.empty()) return nullptr;
  CUcontext top = t_stack.back();
  t_stack.pop_back();
  return top;
}

void StackRemoveEverywhereOnThisThread(CUcontext ctx) {
  std::erase(t_stack, ctx);
}

}  // namespace simgpu
