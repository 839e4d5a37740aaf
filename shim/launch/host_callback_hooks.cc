// Host callbacks as completion signals. Inference servers often learn that a
// request finished from a host function queued after its kernels
// (cuLaunchHostFunc, cuStreamAddCallback) and never synchronise. For a
// production process the callback is then the moment its work is done: if
// the process launched nothing since the callback was queued, it has nothing
// in flight, and the node board's mark is cleared (as a synchronisation would,
// sync_hooks.cc) so that opportunistic work can use the GPU.
//
// Only production processes under tgs-controller wrap callbacks (one small
// allocation per callback, on the callback path, never on a kernel launch);
// everyone else passes straight through.
#include <atomic>

#include "shim/interpose/hooks.h"
#include "shim/launch/launch_meter.h"

namespace tgs::hooks {
namespace {

const RealCuda& Real() { return Runtime::Get().real(); }

struct Completion {
  // Production's launched blocks on the GPU (node board). Launches add to it
  // before they mark production busy, so a callback that finds it unchanged
  // knows nothing was launched since it was queued, by this process or
  // another production process of the GPU.
  std::atomic<uint64_t>* blocks;
  uint64_t blocks_when_queued;
  CUhostFn fn = nullptr;
  CUstreamCallback callback = nullptr;
  void* user_data;
};

void NoteCompletion(const Completion& c) {
  if (c.blocks->load(std::memory_order_acquire) == c.blocks_when_queued) Runtime::Get().ProductionSynchronized();
}

void CUDA_CB RunHostFn(void* p) {
  auto* c = static_cast<Completion*>(p);
  NoteCompletion(*c);
  c->fn(c->user_data);
  delete c;
}

void CUDA_CB RunCallback(CUstream stream, CUresult status, void* p) {
  auto* c = static_cast<Completion*>(p);
  NoteCompletion(*c);
  c->callback(stream, status, c->user_data);
  delete c;
}

// A completion record when this is a production process with its GPU on the
// node board, else nullptr (pass through).
Completion* Track(void* user_data) {
  const RealCuda& real = Real();
  CUcontext ctx = nullptr;
  if (real.cuCtxGetCurrent == nullptr || real.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || ctx == nullptr) return nullptr;
  launch::ThreadLaunchCache& cache = launch::tls_launch_cache;
  if (ctx != cache.ctx || cache.generation != Runtime::fork_generation() || cache.counters == nullptr) {
    if (!launch::FillCache(ctx, &cache)) return nullptr;
  }
  if (cache.production_inflight == nullptr) return nullptr;
  auto* c = new (std::nothrow) Completion;
  if (c == nullptr) return nullptr;  // still correct: only the signal is lost
  c->blocks = &cache.board->production_blocks;
  c->blocks_when_queued = c->blocks->load(std::memory_order_relaxed);
  c->user_data = user_data;
  return c;
}

template <typename Fn>
CUresult QueueHostFn(Fn real_fn, CUstream stream, CUhostFn fn, void* user_data) {
  Completion* c = fn != nullptr ? Track(user_data) : nullptr;
  if (c == nullptr) return CallReal(real_fn, stream, fn, user_data);
  c->fn = fn;
  CUresult r = CallReal(real_fn, stream, &RunHostFn, static_cast<void*>(c));
  if (r != CUDA_SUCCESS) delete c;
  return r;
}

template <typename Fn>
CUresult QueueCallback(Fn real_fn, CUstream stream, CUstreamCallback callback, void* user_data, unsigned flags) {
  Completion* c = callback != nullptr ? Track(user_data) : nullptr;
  if (c == nullptr) return CallReal(real_fn, stream, callback, user_data, flags);
  c->callback = callback;
  CUresult r = CallReal(real_fn, stream, &RunCallback, static_cast<void*>(c), flags);
  if (r != CUDA_SUCCESS) delete c;
  return r;
}

}  // namespace

CUresult cuLaunchHostFunc(CUstream s, CUhostFn fn, void* data) { return QueueHostFn(Real().cuLaunchHostFunc, s, fn, data); }
CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void* data) {
  return QueueHostFn(Real().cuLaunchHostFunc_ptsz, s, fn, data);
}
CUresult cuStreamAddCallback(CUstream s, CUstreamCallback cb, void* data, unsigned int flags) {
  return QueueCallback(Real().cuStreamAddCallback, s, cb, data, flags);
}
CUresult cuStreamAddCallback_ptsz(CUstream s, CUstreamCallback cb, void* data, unsigned int flags) {
  return QueueCallback(Real().cuStreamAddCallback_ptsz, s, cb, data, flags);
}

}  // namespace tgs::hooks
