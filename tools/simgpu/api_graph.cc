// Exported entry points: graph construction, instantiation and launch.
#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/graph.h"
#include "tools/simgpu/module.h"
#include "tools/simgpu/params.h"
#include "tools/simgpu/stream.h"

using namespace simgpu;

namespace {

CUresult AddNode(CUgraphNode* out, CUgraph handle, const CUgraphNode* deps, size_t ndeps, CUgraphNodeType type,
                 Op op) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (out == nullptr || (ndeps != 0 && deps == nullptr)) return CUDA_ERROR_INVALID_VALUE;
  auto graph = FindGraph(handle);
  if (graph == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::vector<GraphNode*> parents;
  for (size_t i = 0; i < ndeps; ++i) {
    if (!NodeBelongsTo(deps[i], graph.get())) return CUDA_ERROR_INVALID_VALUE;
    parents.push_back(static_cast<GraphNode*>(deps[i]));
  }
  *out = AddGraphNode(graph.get(), type, std::move(op), parents);
  return CUDA_SUCCESS;
}

// Kernel nodes copy their arguments at creation, as the driver does, so the
// managed allocations they name are resolved here, once.
template <typename Params>
CUresult KernelOp(const Params* p, Op* op) {
  Function* f = FindFunction(p->func);
  if (f == nullptr) return CUDA_ERROR_INVALID_VALUE;
  unsigned gx = p->gridDimX, gy = p->gridDimY, gz = p->gridDimZ;
  unsigned bx = p->blockDimX, by = p->blockDimY, bz = p->blockDimZ;
  if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) return CUDA_ERROR_INVALID_VALUE;
  if (CUresult rc = ManagedArguments(*f, p->kernelParams, p->extra, &op->managed); rc != CUDA_SUCCESS) return rc;
  op->kind = Op::kKernel;
  op->duration_ns = KernelDurationNs(*f, static_cast<uint64_t>(gx) * gy * gz);
  op->func = p->func;
  op->grid[0] = gx, op->grid[1] = gy, op->grid[2] = gz;
  op->block[0] = bx, op->block[1] = by, op->block[2] = bz;
  return CUDA_SUCCESS;
}

CUresult Instantiate(CUgraphExec* out, CUgraph handle) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto graph = FindGraph(handle);
  if (graph == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto exec = NewGraphExec();
  if (!InstantiateGraph(graph.get(), exec.get())) {
    RemoveGraphExec(exec.get());
    return CUDA_ERROR_INVALID_VALUE;  // a cycle
  }
  *out = exec.get();
  return CUDA_SUCCESS;
}

CUresult LaunchGraph(CUgraphExec handle, CUstream stream, bool per_thread) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  auto exec = FindGraphExec(handle);
  if (exec == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(stream, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  return EnqueueAll(s, exec->ops);
}

}  // namespace

SIMGPU_EXPORT CUresult cuGraphCreate(CUgraph* graph, unsigned int flags) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (graph == nullptr || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  *graph = NewGraph().get();
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuGraphDestroy(CUgraph graph) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return RemoveGraph(graph) != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SIMGPU_EXPORT CUresult cuGraphAddKernelNode_v2(CUgraphNode* node, CUgraph graph, const CUgraphNode* deps, size_t n,
                                               const CUDA_KERNEL_NODE_PARAMS* p) {
  if (p == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  Op op;
  if (CUresult rc = KernelOp(p, &op); rc != CUDA_SUCCESS) return rc;
  return AddNode(node, graph, deps, n, CU_GRAPH_NODE_TYPE_KERNEL, std::move(op));
}

SIMGPU_EXPORT CUresult cuGraphAddKernelNode(CUgraphNode* node, CUgraph graph, const CUgraphNode* deps, size_t n,
                                            const CUDA_KERNEL_NODE_PARAMS_v1* p) {
  if (p == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  Op op;
  if (CUresult rc = KernelOp(p, &op); rc != CUDA_SUCCESS) return rc;
  return AddNode(node, graph, deps, n, CU_GRAPH_NODE_TYPE_KERNEL, std::move(op));
}

SIMGPU_EXPORT CUresult cuGraphAddEmptyNode(CUgraphNode* node, CUgraph graph, const CUgraphNode* deps, size_t n) {
  return AddNode(node, graph, deps, n, CU_GRAPH_NODE_TYPE_EMPTY, Op{});
}

SIMGPU_EXPORT CUresult cuGraphAddHostNode(CUgraphNode* node, CUgraph graph, const CUgraphNode* deps, size_t n,
                                          const CUDA_HOST_NODE_PARAMS* p) {
  if (p == nullptr || p->fn == nullptr) return Initialized() ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
  Op op;
  op.kind = Op::kWork;
  CUhostFn fn = p->fn;
  void* data = p->userData;
  op.work = [fn, data] { fn(data); };
  return AddNode(node, graph, deps, n, CU_GRAPH_NODE_TYPE_HOST, std::move(op));
}

SIMGPU_EXPORT CUresult cuGraphGetNodes(CUgraph handle, CUgraphNode* nodes, size_t* count) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto graph = FindGraph(handle);
  if (graph == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> guard(graph->mu);
  if (nodes != nullptr) {
    size_t n = std::min(*count, graph->nodes.size());
    for (size_t i = 0; i < n; ++i) nodes[i] = graph->nodes[i].get();
    if (*count > n) *count = n;
  } else {
    *count = graph->nodes.size();
  }
  return CUDA_SUCCESS;
}

// The node's graph is found through the node itself; a handle that is not a
// live node of a live graph is CUDA_ERROR_INVALID_VALUE.
GraphNode* LiveNode(CUgraphNode handle) {
  if (handle == nullptr) return nullptr;
  auto* node = static_cast<GraphNode*>(handle);
  return NodeIsLive(node) ? node : nullptr;
}

SIMGPU_EXPORT CUresult cuGraphNodeGetType(CUgraphNode handle, CUgraphNodeType* type) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  GraphNode* node = LiveNode(handle);
  if (node == nullptr || type == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *type = node->type;
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode handle, CUDA_KERNEL_NODE_PARAMS* p) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  GraphNode* node = LiveNode(handle);
  if (node == nullptr || p == nullptr || node->type != CU_GRAPH_NODE_TYPE_KERNEL) return CUDA_ERROR_INVALID_VALUE;
  *p = CUDA_KERNEL_NODE_PARAMS{};
  p->func = node->op.func;
  p->gridDimX = node->op.grid[0];
  p->gridDimY = node->op.grid[1];
  p->gridDimZ = node->op.grid[2];
  p->blockDimX = node->op.block[0];
  p->blockDimY = node->op.block[1];
  p->blockDimZ = node->op.block[2];
  p->sharedMemBytes = node->op.shared_mem;
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec* exec, CUgraph graph, unsigned long long flags) {
  (void)flags;  // auto-free-on-launch, upload, device launch: no effect on timing here
  return Instantiate(exec, graph);
}

SIMGPU_EXPORT CUresult cuGraphInstantiate_v2(CUgraphExec* exec, CUgraph graph, CUgraphNode* error_node, char* log,
                                             size_t log_size) {
  if (error_node != nullptr) *error_node = nullptr;
  if (log != nullptr && log_size > 0) log[0] = '\0';
  return Instantiate(exec, graph);
}

SIMGPU_EXPORT CUresult cuGraphInstantiate(CUgraphExec* exec, CUgraph graph, CUgraphNode* error_node, char* log,
                                          size_t log_size) {
  return cuGraphInstantiate_v2(exec, graph, error_node, log, log_size);
}

SIMGPU_EXPORT CUresult cuGraphLaunch(CUgraphExec exec, CUstream s) { return LaunchGraph(exec, s, false); }
SIMGPU_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream s) { return LaunchGraph(exec, s, true); }

SIMGPU_EXPORT CUresult cuGraphExecDestroy(CUgraphExec exec) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return RemoveGraphExec(exec) != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
