// Exported entry points: streams, events and stream capture.
#include <algorithm>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/graph.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/stream.h"

using namespace simgpu;

namespace {

CUresult Create(CUstream* out, unsigned flags, int priority) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (out == nullptr || (flags & ~static_cast<unsigned>(CU_STREAM_NON_BLOCKING)) != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Context> ctx;
  if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
  priority = std::min(0, std::max(-5, priority));  // clamped to the range, as documented
  auto s = NewStream(ctx.get(), kUserStream, flags, priority);
  {
    std::lock_guard<std::mutex> guard(ctx->mu);
    ctx->streams.push_back(s);
  }
  *out = s.get();
  return CUDA_SUCCESS;
}

CUresult Sync(CUstream handle, bool per_thread) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  return SynchronizeStream(s);
}

CUresult Query(CUstream handle, bool per_thread) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  return StreamIdle(s) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult WaitEvent(CUstream handle, CUevent event, unsigned flags, bool per_thread) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  auto e = FindEvent(event);
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  (void)flags;
  std::shared_ptr<Capture> capture;
  std::vector<GraphNode*> nodes;
  uint64_t seq = 0;
  {
    std::lock_guard<std::mutex> guard(e->mu);
    capture = e->capture.lock();
    nodes = e->capture_nodes;
    seq = e->recorded;
    if (capture == nullptr && (seq == 0 || e->completed >= seq)) return CUDA_SUCCESS;  // nothing to wait for
  }
  if (capture != nullptr) {
    // Waiting on an event recorded inside a capture forks the capture into
    // this stream (or joins a branch back), as in multi-stream capture.
    std::lock_guard<std::mutex> guard(s->mu);
    if (s->capture != nullptr && s->capture != capture) return CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
    if (s->capture == nullptr) {
      s->capture = capture;
      s->capture_frontier = nodes;
      std::lock_guard<std::mutex> g(capture->mu);
      capture->streams.push_back(s);
    } else {
      for (GraphNode* n : nodes) {
        if (std::find(s->capture_frontier.begin(), s->capture_frontier.end(), n) == s->capture_frontier.end()) {
          s->capture_frontier.push_back(n);
        }
      }
    }
    return CUDA_SUCCESS;
  }
  Op op;
  op.kind = Op::kWaitEvent;
  op.event = e;
  op.event_seq = seq;
  return Enqueue(s, std::move(op));
}

CUresult Record(CUevent event, CUstream handle, bool per_thread) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  auto e = FindEvent(event);
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  {
    std::lock_guard<std::mutex> guard(s->mu);
    if (s->capture != nullptr) {
      std::lock_guard<std::mutex> g(e->mu);
      e->capture = s->capture;
      e->capture_nodes = s->capture_frontier;
      return CUDA_SUCCESS;
    }
  }
  Op op;
  op.kind = Op::kRecord;
  op.event = e;
  {
    std::lock_guard<std::mutex> guard(e->mu);
    e->capture.reset();
    e->capture_nodes.clear();
    op.event_seq = ++e->recorded;
  }
  return Enqueue(s, std::move(op));
}

CUresult BeginCapture(CUstream handle, CUstreamCaptureMode mode, bool per_thread) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  if (s->kind == kLegacyStream) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  auto capture = std::make_shared<Capture>();
  capture->graph = NewGraph();
  capture->mode = mode;
  capture->id = NextCaptureId();
  capture->streams.push_back(s);
  std::lock_guard<std::mutex> guard(s->mu);
  if (s->capture != nullptr) return CUDA_ERROR_ILLEGAL_STATE;
  s->capture = capture;
  s->capture_frontier.clear();
  return CUDA_SUCCESS;
}

CUresult EndCapture(CUstream handle, CUgraph* graph, bool per_thread) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  if (graph == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Capture> capture;
  {
    std::lock_guard<std::mutex> guard(s->mu);
    capture = s->capture;
  }
  if (capture == nullptr) return CUDA_ERROR_ILLEGAL_STATE;
  std::lock_guard<std::mutex> g(capture->mu);
  if (capture->streams.front().lock() != s) return CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
  for (auto& weak : capture->streams) {
    if (auto joined = weak.lock()) {
      std::lock_guard<std::mutex> guard(joined->mu);
      joined->capture.reset();
      joined->capture_frontier.clear();
    }
  }
  *graph = capture->graph.get();
  return CUDA_SUCCESS;
}

CUresult IsCapturing(CUstream handle, CUstreamCaptureStatus* status, bool per_thread) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> guard(s->mu);
  *status = s->capture != nullptr ? CU_STREAM_CAPTURE_STATUS_ACTIVE : CU_STREAM_CAPTURE_STATUS_NONE;
  return CUDA_SUCCESS;
}

template <typename F>
CUresult WithStream(CUstream handle, bool per_thread, F f) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  return f(*s);
}

}  // namespace

SIMGPU_EXPORT CUresult cuStreamCreate(CUstream* s, unsigned int flags) { return Create(s, flags, 0); }
SIMGPU_EXPORT CUresult cuStreamCreateWithPriority(CUstream* s, unsigned int flags, int priority) {
  return Create(s, flags, priority);
}

SIMGPU_EXPORT CUresult cuStreamDestroy_v2(CUstream handle) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  auto s = FindStream(handle);
  if (s == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (auto ctx = FindContext(s->ctx)) {
    std::lock_guard<std::mutex> guard(ctx->mu);
    std::erase(ctx->streams, s);
  }
  // Returns at once; queued work still completes, as documented.
  StopStream(s);
  return CUDA_SUCCESS;
}
SIMGPU_EXPORT CUresult cuStreamDestroy(CUstream s) { return cuStreamDestroy_v2(s); }

SIMGPU_EXPORT CUresult cuStreamSynchronize(CUstream s) { return Sync(s, false); }
SIMGPU_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s) { return Sync(s, true); }
SIMGPU_EXPORT CUresult cuStreamQuery(CUstream s) { return Query(s, false); }
SIMGPU_EXPORT CUresult cuStreamQuery_ptsz(CUstream s) { return Query(s, true); }
SIMGPU_EXPORT CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags) { return WaitEvent(s, e, flags, false); }
SIMGPU_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream s, CUevent e, unsigned int flags) {
  return WaitEvent(s, e, flags, true);
}

SIMGPU_EXPORT CUresult cuStreamGetCtx(CUstream s, CUcontext* ctx) {
  if (ctx == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, false, [&](Stream& st) { *ctx = st.ctx; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetCtx_ptsz(CUstream s, CUcontext* ctx) {
  if (ctx == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, true, [&](Stream& st) { *ctx = st.ctx; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetCtx_v2(CUstream s, CUcontext* ctx, CUgreenCtx* green) {
  if (green != nullptr) *green = nullptr;
  return cuStreamGetCtx(s, ctx);
}
SIMGPU_EXPORT CUresult cuStreamGetCtx_v2_ptsz(CUstream s, CUcontext* ctx, CUgreenCtx* green) {
  if (green != nullptr) *green = nullptr;
  return cuStreamGetCtx_ptsz(s, ctx);
}
SIMGPU_EXPORT CUresult cuStreamGetDevice(CUstream s, CUdevice* dev) {
  if (dev == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, false, [&](Stream& st) { *dev = st.device; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetDevice_ptsz(CUstream s, CUdevice* dev) {
  if (dev == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, true, [&](Stream& st) { *dev = st.device; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetFlags(CUstream s, unsigned int* flags) {
  if (flags == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, false, [&](Stream& st) { *flags = st.flags; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetFlags_ptsz(CUstream s, unsigned int* flags) {
  if (flags == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, true, [&](Stream& st) { *flags = st.flags; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetPriority(CUstream s, int* priority) {
  if (priority == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, false, [&](Stream& st) { *priority = st.priority; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetPriority_ptsz(CUstream s, int* priority) {
  if (priority == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, true, [&](Stream& st) { *priority = st.priority; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetId(CUstream s, unsigned long long* id) {
  if (id == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, false, [&](Stream& st) { *id = st.id; return CUDA_SUCCESS; });
}
SIMGPU_EXPORT CUresult cuStreamGetId_ptsz(CUstream s, unsigned long long* id) {
  if (id == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  return WithStream(s, true, [&](Stream& st) { *id = st.id; return CUDA_SUCCESS; });
}

SIMGPU_EXPORT CUresult cuEventCreate(CUevent* event, unsigned int flags) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  constexpr unsigned kKnown = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
  if (event == nullptr || (flags & ~kKnown) != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Context> ctx;
  if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
  *event = NewEvent(flags).get();
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuEventDestroy_v2(CUevent event) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (FindEvent(event) == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  DestroyEvent(event);
  return CUDA_SUCCESS;
}
SIMGPU_EXPORT CUresult cuEventDestroy(CUevent event) { return cuEventDestroy_v2(event); }

SIMGPU_EXPORT CUresult cuEventRecord(CUevent e, CUstream s) { return Record(e, s, false); }
SIMGPU_EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream s) { return Record(e, s, true); }
SIMGPU_EXPORT CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned int flags) {
  (void)flags;  // CU_EVENT_RECORD_EXTERNAL only matters inside graphs
  return Record(e, s, false);
}
SIMGPU_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream s, unsigned int flags) {
  (void)flags;
  return Record(e, s, true);
}

SIMGPU_EXPORT CUresult cuEventQuery(CUevent event) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  auto e = FindEvent(event);
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  std::lock_guard<std::mutex> guard(e->mu);
  return e->completed >= e->recorded ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

SIMGPU_EXPORT CUresult cuEventSynchronize(CUevent event) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  auto e = FindEvent(event);
  if (e == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  {
    std::unique_lock<std::mutex> lock(e->mu);
    uint64_t target = e->recorded;
    e->cv.wait(lock, [&] { return e->completed >= target; });
  }
  ReleasePoolsOverThreshold();
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuEventElapsedTime_v2(float* ms, CUevent start, CUevent end) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (ms == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto a = FindEvent(start);
  auto b = FindEvent(end);
  if (a == nullptr || b == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING) return CUDA_ERROR_INVALID_HANDLE;
  int64_t t0, t1;
  {
    std::lock_guard<std::mutex> guard(a->mu);
    if (a->recorded == 0) return CUDA_ERROR_INVALID_HANDLE;
    if (a->completed < a->recorded) return CUDA_ERROR_NOT_READY;
    t0 = a->time_ns;
  }
  {
    std::lock_guard<std::mutex> guard(b->mu);
    if (b->recorded == 0) return CUDA_ERROR_INVALID_HANDLE;
    if (b->completed < b->recorded) return CUDA_ERROR_NOT_READY;
    t1 = b->time_ns;
  }
  *ms = static_cast<float>(static_cast<double>(t1 - t0) / 1e6);
  return CUDA_SUCCESS;
}
SIMGPU_EXPORT CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
  return cuEventElapsedTime_v2(ms, start, end);
}

SIMGPU_EXPORT CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
  return BeginCapture(s, mode, false);
}
SIMGPU_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode) {
  return BeginCapture(s, mode, true);
}
SIMGPU_EXPORT CUresult cuStreamBeginCapture(CUstream s) { return BeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL, false); }
SIMGPU_EXPORT CUresult cuStreamBeginCapture_ptsz(CUstream s) {
  return BeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL, true);
}
SIMGPU_EXPORT CUresult cuStreamEndCapture(CUstream s, CUgraph* g) { return EndCapture(s, g, false); }
SIMGPU_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream s, CUgraph* g) { return EndCapture(s, g, true); }
SIMGPU_EXPORT CUresult cuStreamIsCapturing(CUstream s, CUstreamCaptureStatus* st) { return IsCapturing(s, st, false); }
SIMGPU_EXPORT CUresult cuStreamIsCapturing_ptsz(CUstream s, CUstreamCaptureStatus* st) {
  return IsCapturing(s, st, true);
}
