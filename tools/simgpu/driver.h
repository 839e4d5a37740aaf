// Per-process driver state: initialisation, devices and contexts (including
// the per-thread context stack). Streams hang off contexts (stream.h).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/segment.h"

struct CUctx_st {};  // cuda.h only forward-declares it; our Context derives from it

namespace simgpu {

struct Stream;

struct Context : CUctx_st, std::enable_shared_from_this<Context> {
  int device = 0;
  unsigned flags = 0;
  bool primary = false;
  std::mutex mu;  // guards streams, legacy, destroyed
  std::vector<std::shared_ptr<Stream>> streams;  // every live stream, incl. the legacy one
  std::shared_ptr<Stream> legacy;                 // the NULL stream, created with the context
  bool destroyed = false;
  int primary_refs = 0;  // guarded by the primary-context table's mutex
  unsigned primary_flags = 0;
};

bool Initialized();
// CUDA_SUCCESS once cuInit has succeeded; NOT_INITIALIZED otherwise.
inline CUresult CheckInit() { return Initialized() ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED; }
CUresult Init();
int DeviceCount();
bool ValidDevice(CUdevice dev);
int SmCount();
// SMs this process's kernels may use: all of them, or under the simulated MPS
// (TGS_SIM_MPS) its CUDA_MPS_ACTIVE_THREAD_PERCENTAGE of them.
int ClientSmCount();
// True when this process is an MPS client limited to a share of the SMs: its
// kernels then run in a partition of their own (timeline.h).
bool MpsPartitioned();

std::shared_ptr<Context> FindContext(CUcontext ctx);
// The calling thread's current context; INVALID_CONTEXT when there is none.
CUresult CurrentContext(std::shared_ptr<Context>* out);
// Device of the current context, for calls that allocate "on the current device".
CUresult CurrentDevice(int* device);

CUresult CreateContext(int device, unsigned flags, std::shared_ptr<Context>* out);
CUresult DestroyContext(const std::shared_ptr<Context>& ctx);
std::shared_ptr<Context> PrimaryContext(int device);
CUresult RetainPrimary(int device, CUcontext* out);
CUresult ReleasePrimary(int device);
CUresult ResetPrimary(int device);
void PrimaryState(int device, unsigned* flags, int* active);
void SetPrimaryFlags(int device, unsigned flags);

// Thread context stack.
CUcontext StackTop();
void StackSetTop(CUcontext ctx);
void StackPush(CUcontext ctx);
CUcontext StackPop();
void StackRemoveEverywhereOnThisThread(CUcontext ctx);

}  // namespace simgpu
