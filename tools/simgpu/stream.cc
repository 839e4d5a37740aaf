#include "tools/simgpu/stream.h"

#include <sys/prctl.h>

#include <algorithm>
#include <thread>

#include "tools/simgpu/clock.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/graph.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/registry.h"
#include "tools/simgpu/timeline.h"

namespace simgpu {
namespace {

Registry<Stream>& Streams() { return Leaked<Registry<Stream>>(); }
Registry<Event>& Events() { return Leaked<Registry<Event>>(); }
std::atomic<unsigned long long> g_stream_ids{0};

void WaitStreamReached(const std::shared_ptr<Stream>& s, uint64_t target) {
  std::unique_lock<std::mutex> lock(s->mu);
  s->done_cv.wait(lock, [&] { return s->completed >= target; });
}

// Device time runs on the stream's cursor, not on when this thread happens to
// wake up: back-to-back kernels are back-to-back on the device even if the
// worker's sleep overshoots, and events carry device completion times.
void Execute(Stream& s, Op& op) {
  int64_t ready = std::max(op.submit_ns, s.cursor_ns);
  if (!op.deps.empty()) {
    for (auto& [other, target] : op.deps) WaitStreamReached(other, target);
    ready = std::max(ready, NowNs());
  }
  switch (op.kind) {
    case Op::kKernel: {
      if (!op.managed.empty()) {
        // Reserve compute only once the data is there: reserving it now for
        // later would hold the device idle against every other context.
        int64_t arrived = AccessManagedRanges(s.device, op.managed.data(), op.managed.size(), ready);
        if (arrived > ready) {
          SleepUntilNs(arrived);
          ready = arrived;
        }
      }
      int64_t end = MpsPartitioned() ? ReservePartitionKernel(s.device, ready, op.duration_ns)
                                     : ReserveKernel(s.device, ready, op.duration_ns);
      SleepUntilNs(end);
      s.cursor_ns = end;
      break;
    }
    case Op::kPrefetch: {
      int64_t end = PrefetchManagedRange(op.managed.front(), op.prefetch_bytes, op.prefetch_location, ready);
      SleepUntilNs(end);
      s.cursor_ns = end;
      break;
    }
    case Op::kWork:
      if (op.work) op.work();
      s.cursor_ns = NowNs();  // host work happens in host time
      break;
    case Op::kRecord: {
      std::lock_guard<std::mutex> guard(op.event->mu);
      op.event->completed = std::max(op.event->completed, op.event_seq);
      op.event->time_ns = ready;
      op.event->cv.notify_all();
      s.cursor_ns = ready;
      break;
    }
    case Op::kWaitEvent: {
      std::unique_lock<std::mutex> lock(op.event->mu);
      op.event->cv.wait(lock, [&] { return op.event->completed >= op.event_seq; });
      s.cursor_ns = std::max(ready, op.event->time_ns);
      break;
    }
    case Op::kNop:
      break;
  }
}

void RunWorker(std::shared_ptr<Stream> s) {
  // Default 50 us timer slack would make every simulated kernel end late.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  std::unique_lock<std::mutex> lock(s->mu);
  for (;;) {
    s->work_cv.wait(lock, [&] { return !s->queue.empty() || s->stop; });
    if (s->queue.empty()) return;  // stopped and drained
    Op& op = s->queue.front();
    lock.unlock();
    Execute(*s, op);
    lock.lock();
    s->queue.pop_front();
    ++s->completed;
    s->done_cv.notify_all();
    s->space_cv.notify_one();
  }
}

struct PerThreadStreams {
  std::vector<std::shared_ptr<Stream>> streams;
  ~PerThreadStreams() {
    for (auto& s : streams) {
      if (auto owner = s->ctx != nullptr ? FindContext(s->ctx) : nullptr) {
        std::lock_guard<std::mutex> guard(owner->mu);
        std::erase(owner->streams, s);
      }
      StopStream(s);
    }
  }
};
thread_local PerThreadStreams t_per_thread;

CUresult PerThreadStream(std::shared_ptr<Stream>* out) {
  std::shared_ptr<Context> ctx;
  if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
  for (auto& s : t_per_thread.streams) {
    if (s->ctx == ctx.get()) {
      *out = s;
      return CUDA_SUCCESS;
    }
  }
  auto s = NewStream(ctx.get(), kPerThreadStream, 0);
  {
    std::lock_guard<std::mutex> guard(ctx->mu);
    ctx->streams.push_back(s);
  }
  t_per_thread.streams.push_back(s);
  *out = std::move(s);
  return CUDA_SUCCESS;
}

bool Blocking(const Stream& s) { return (s.flags & CU_STREAM_NON_BLOCKING) == 0; }

// Legacy default-stream semantics as sequence-number dependencies: work on the
// NULL stream waits for earlier work on every blocking stream, and work on a
// blocking stream waits for earlier NULL-stream work. Nothing blocks the host.
void AddLegacyDeps(const std::shared_ptr<Stream>& s, Op* op) {
  Context* ctx = s->ctx;
  if (ctx == nullptr || !Blocking(*s)) return;
  if (s->kind == kLegacyStream) {
    std::lock_guard<std::mutex> guard(ctx->mu);
    for (auto& other : ctx->streams) {
      if (other == s || !Blocking(*other)) continue;
      std::lock_guard<std::mutex> g(other->mu);
      if (other->completed < other->submitted) op->deps.emplace_back(other, other->submitted);
    }
  } else {
    std::shared_ptr<Stream> legacy;
    {
      std::lock_guard<std::mutex> guard(ctx->mu);
      legacy = ctx->legacy;
    }
    if (legacy == nullptr) return;
    std::lock_guard<std::mutex> g(legacy->mu);
    if (legacy->completed < legacy->submitted) op->deps.emplace_back(legacy, legacy->submitted);
  }
}

CUgraphNodeType NodeTypeOf(const Op& op) {
  switch (op.kind) {
    case Op::kKernel:
      return CU_GRAPH_NODE_TYPE_KERNEL;
    case Op::kWork:
      return CU_GRAPH_NODE_TYPE_HOST;
    default:
      return CU_GRAPH_NODE_TYPE_EMPTY;
  }
}

}  // namespace

std::shared_ptr<Stream> NewStream(Context* ctx, StreamKind kind, unsigned flags, int priority) {
  auto s = std::make_shared<Stream>();
  s->ctx = ctx;
  s->device = ctx != nullptr ? ctx->device : 0;
  s->kind = kind;
  s->flags = flags;
  s->priority = priority;
  s->id = ++g_stream_ids;
  if (kind == kUserStream) Streams().Add(s);
  std::thread(RunWorker, s).detach();
  return s;
}

void StopStream(const std::shared_ptr<Stream>& s) {
  Streams().Remove(s.get());
  std::lock_guard<std::mutex> guard(s->mu);
  s->stop = true;
  s->work_cv.notify_all();
}

std::shared_ptr<Stream> FindStream(CUstream handle) { return Streams().Find(handle); }

CUresult ResolveStream(CUstream handle, bool per_thread, std::shared_ptr<Stream>* out) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (handle == CU_STREAM_PER_THREAD || (handle == nullptr && per_thread)) return PerThreadStream(out);
  if (handle == nullptr || handle == CU_STREAM_LEGACY) {
    std::shared_ptr<Context> ctx;
    if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
    std::lock_guard<std::mutex> guard(ctx->mu);
    if (ctx->legacy == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    *out = ctx->legacy;
    return CUDA_SUCCESS;
  }
  auto s = Streams().Find(handle);
  if (s == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  *out = std::move(s);
  return CUDA_SUCCESS;
}

CUresult EnqueueAll(const std::shared_ptr<Stream>& s, std::vector<Op> ops) {
  if (ops.empty()) return CUDA_SUCCESS;
  {
    std::lock_guard<std::mutex> guard(s->mu);
    if (s->capture != nullptr) {
      Graph* graph = s->capture->graph.get();
      for (auto& op : ops) {
        CUgraphNodeType type = NodeTypeOf(op);
        GraphNode* node = AddGraphNode(graph, type, std::move(op), s->capture_frontier);
        s->capture_frontier.assign(1, node);
      }
      return CUDA_SUCCESS;
    }
  }
  AddLegacyDeps(s, &ops.front());
  int64_t now = NowNs();
  std::unique_lock<std::mutex> lock(s->mu);
  for (auto& op : ops) {
    op.submit_ns = now;
    // A full pushbuffer blocks the launching thread until the device catches up.
    s->space_cv.wait(lock, [&] { return s->queue.size() < kStreamQueueDepth || s->stop; });
    if (s->stop) return CUDA_ERROR_INVALID_HANDLE;
    s->queue.push_back(std::move(op));
    ++s->submitted;
    s->work_cv.notify_one();
  }
  return CUDA_SUCCESS;
}

CUresult Enqueue(const std::shared_ptr<Stream>& s, Op op) {
  std::vector<Op> ops;
  ops.push_back(std::move(op));
  return EnqueueAll(s, std::move(ops));
}

CUresult SynchronizeStream(const std::shared_ptr<Stream>& s) {
  {
    std::lock_guard<std::mutex> guard(s->mu);
    if (s->capture != nullptr) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  std::vector<std::pair<std::shared_ptr<Stream>, uint64_t>> targets;
  {
    std::lock_guard<std::mutex> guard(s->mu);
    targets.emplace_back(s, s->submitted);
  }
  if (s->kind == kLegacyStream && s->ctx != nullptr) {
    // The legacy stream is a barrier over all blocking streams.
    std::lock_guard<std::mutex> guard(s->ctx->mu);
    for (auto& other : s->ctx->streams) {
      if (other == s || !Blocking(*other)) continue;
      std::lock_guard<std::mutex> g(other->mu);
      targets.emplace_back(other, other->submitted);
    }
  }
  for (auto& [stream, target] : targets) WaitStreamReached(stream, target);
  ReleasePoolsOverThreshold();
  return CUDA_SUCCESS;
}

bool StreamIdle(const std::shared_ptr<Stream>& s) {
  std::lock_guard<std::mutex> guard(s->mu);
  return s->completed >= s->submitted;
}

void SynchronizeContext(Context* ctx) {
  std::vector<std::pair<std::shared_ptr<Stream>, uint64_t>> targets;
  {
    std::lock_guard<std::mutex> guard(ctx->mu);
    for (auto& s : ctx->streams) {
      std::lock_guard<std::mutex> g(s->mu);
      targets.emplace_back(s, s->submitted);
    }
  }
  for (auto& [stream, target] : targets) WaitStreamReached(stream, target);
  ReleasePoolsOverThreshold();
}

std::shared_ptr<Event> FindEvent(CUevent handle) { return Events().Find(handle); }

std::shared_ptr<Event> NewEvent(unsigned flags) {
  auto e = std::make_shared<Event>();
  e->flags = flags;
  Events().Add(e);
  return e;
}

void DestroyEvent(CUevent handle) { Events().Remove(handle); }

}  // namespace simgpu
