// Streams, events and the operations they execute. Each stream has a worker
// thread that runs its queue in order; a kernel at the head of the queue
// reserves an interval on the device timeline (timeline.h) and the worker
// sleeps until it ends. A kernel that touches managed memory first waits for
// its migrations on the copy-engine timeline, then reserves compute. Launch
// calls only append to the queue (bounded, like a pushbuffer), so they are
// asynchronous exactly as on a real GPU.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/residency.h"

struct CUstream_st {};
struct CUevent_st {};

namespace simgpu {

struct Context;
struct Stream;
struct Capture;
struct GraphNode;

inline constexpr size_t kStreamQueueDepth = 1024;

enum StreamKind { kLegacyStream, kPerThreadStream, kUserStream };

struct Event : CUevent_st {
  unsigned flags = 0;
  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  uint64_t recorded = 0;   // records issued
  uint64_t completed = 0;  // highest record that has executed
  int64_t time_ns = 0;     // when the latest completed record executed
  // Set when recorded into a capturing stream: the nodes a later wait joins on.
  std::weak_ptr<Capture> capture;
  std::vector<GraphNode*> capture_nodes;
};

struct Op {
  enum Kind : uint8_t { kKernel, kWork, kRecord, kWaitEvent, kPrefetch, kNop } kind = kNop;
  int64_t duration_ns = 0;       // kKernel
  // kKernel: the managed allocations its pointer arguments name, resolved at
  // launch (as the driver copies arguments then) so that graph replays touch
  // the same ones. kPrefetch: the one range it moves.
  std::vector<ManagedHandle> managed;
  uint64_t prefetch_bytes = 0;   // kPrefetch
  int prefetch_location = 0;     // kPrefetch: a device ordinal or kHostLocation
  // kKernel: the launch as given, so a graph node built from it (captured or
  // added) can report its parameters (cuGraphKernelNodeGetParams).
  CUfunction func = nullptr;
  unsigned grid[3] = {0, 0, 0};
  unsigned block[3] = {0, 0, 0};
  unsigned shared_mem = 0;
  int64_t submit_ns = 0;         // when it was queued
  std::function<void()> work;    // kWork: host function, copy, memset, stream-ordered free
  std::shared_ptr<Event> event;  // kRecord / kWaitEvent
  uint64_t event_seq = 0;
  // Implicit legacy-stream ordering: wait until each stream has completed n ops.
  std::vector<std::pair<std::shared_ptr<Stream>, uint64_t>> deps;
};

struct Stream : CUstream_st {
  Context* ctx = nullptr;
  int device = 0;
  StreamKind kind = kUserStream;
  unsigned flags = 0;
  int priority = 0;
  unsigned long long id = 0;
  std::mutex mu;  // guards everything below
  std::condition_variable work_cv;   // worker: queue non-empty or stop
  std::condition_variable done_cv;   // waiters: completed advanced
  std::condition_variable space_cv;  // launchers: queue has room
  std::deque<Op> queue;  // the head stays queued while it executes
  uint64_t submitted = 0;
  uint64_t completed = 0;
  bool stop = false;
  int64_t cursor_ns = 0;  // device time at which the previous op finished; worker-only
  std::shared_ptr<Capture> capture;
  std::vector<GraphNode*> capture_frontier;
};

std::shared_ptr<Stream> NewStream(Context* ctx, StreamKind kind, unsigned flags, int priority = 0);
// Lets the worker drain the queue and exit; the handle becomes invalid.
void StopStream(const std::shared_ptr<Stream>& stream);

// Resolves a CUstream handle: NULL is the legacy stream, or the per-thread
// stream when `per_thread` (the _ptsz entry points); CU_STREAM_LEGACY and
// CU_STREAM_PER_THREAD name those explicitly.
CUresult ResolveStream(CUstream handle, bool per_thread, std::shared_ptr<Stream>* out);

// Queues `op` (or records it as a graph node when the stream is capturing).
CUresult Enqueue(const std::shared_ptr<Stream>& stream, Op op);
// Appends several ops atomically with respect to ordering (graph launch).
CUresult EnqueueAll(const std::shared_ptr<Stream>& stream, std::vector<Op> ops);

CUresult SynchronizeStream(const std::shared_ptr<Stream>& stream);
bool StreamIdle(const std::shared_ptr<Stream>& stream);
void SynchronizeContext(Context* ctx);

std::shared_ptr<Event> FindEvent(CUevent handle);
std::shared_ptr<Event> NewEvent(unsigned flags);
void DestroyEvent(CUevent handle);

std::shared_ptr<Stream> FindStream(CUstream handle);

}  // namespace simgpu
