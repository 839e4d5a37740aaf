// Where a production process is seen to have no work in flight: when a
// synchronisation returns (context, stream, event, a successful stream query,
// a synchronous copy to the host), production's flag on the node board is
// cleared and waiting opportunistic launches may go (shim/state/node_board.h).
// An event query is deliberately not a signal: frameworks poll old events
// (PyTorch's caching allocator) while newer work is still running.
#include "shim/core/runtime.h"
#include "shim/interpose/hooks.h"

namespace tgs::hooks {
namespace {

const RealCuda& Real() { return Runtime::Get().real(); }

CUresult Synchronized(CUresult r) {
  if (r == CUDA_SUCCESS) Runtime::Get().ProductionSynchronized();
  return r;
}

}  // namespace

CUresult cuCtxSynchronize(void) { return Synchronized(CallReal(Real().cuCtxSynchronize)); }
CUresult cuCtxSynchronize_v2(CUcontext ctx) { return Synchronized(CallReal(Real().cuCtxSynchronize_v2, ctx)); }
CUresult cuStreamSynchronize(CUstream s) { return Synchronized(CallReal(Real().cuStreamSynchronize, s)); }
CUresult cuStreamSynchronize_ptsz(CUstream s) { return Synchronized(CallReal(Real().cuStreamSynchronize_ptsz, s)); }
CUresult cuStreamQuery(CUstream s) { return Synchronized(CallReal(Real().cuStreamQuery, s)); }
CUresult cuStreamQuery_ptsz(CUstream s) { return Synchronized(CallReal(Real().cuStreamQuery_ptsz, s)); }
CUresult cuEventSynchronize(CUevent e) { return Synchronized(CallReal(Real().cuEventSynchronize, e)); }
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
  return Synchronized(CallReal(Real().cuMemcpyDtoH_v2, dst, src, bytes));
}
CUresult cuMemcpyDtoH_v2_ptds(void* dst, CUdeviceptr src, size_t bytes) {
  return Synchronized(CallReal(Real().cuMemcpyDtoH_v2_ptds, dst, src, bytes));
}
CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  return Synchronized(CallReal(Real().cuMemcpy, dst, src, bytes));
}
CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  return Synchronized(CallReal(Real().cuMemcpy_ptds, dst, src, bytes));
}

}  // namespace tgs::hooks
