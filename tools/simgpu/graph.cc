#include "tools/simgpu/graph.h"

#include <unordered_map>

#include "tools/simgpu/registry.h"

namespace simgpu {
namespace {
Registry<Graph>& Graphs() { return Leaked<Registry<Graph>>(); }
Registry<GraphExec>& Execs() { return Leaked<Registry<GraphExec>>(); }
std::atomic<unsigned long long> g_capture_ids{0};
}  // namespace

GraphNode* AddGraphNode(Graph* graph, CUgraphNodeType type, Op op, const std::vector<GraphNode*>& deps) {
  auto node = std::make_unique<GraphNode>();
  node->type = type;
  node->op = std::move(op);
  node->deps = deps;
  node->graph = graph;
  GraphNode* raw = node.get();
  std::lock_guard<std::mutex> guard(graph->mu);
  graph->nodes.push_back(std::move(node));
  return raw;
}

bool NodeBelongsTo(CUgraphNode node, Graph* graph) {
  std::lock_guard<std::mutex> guard(graph->mu);
  for (auto& n : graph->nodes) {
    if (n.get() == node) return true;
  }
  return false;
}

bool NodeIsLive(GraphNode* node) {
  // Like the real driver, a node handle must be one the application was
  // given; its graph is trusted only once the registry vouches for it.
  auto graph = Graphs().Find(node->graph);
  return graph != nullptr && NodeBelongsTo(node, graph.get());
}

bool InstantiateGraph(Graph* graph, GraphExec* exec) {
  std::lock_guard<std::mutex> guard(graph->mu);
  // Kahn's algorithm, stable in insertion order so captured sequences replay as captured.
  std::unordered_map<GraphNode*, size_t> pending;
  std::unordered_map<GraphNode*, std::vector<GraphNode*>> dependents;
  for (auto& n : graph->nodes) {
    pending[n.get()] = n->deps.size();
    for (GraphNode* d : n->deps) dependents[d].push_back(n.get());
  }
  std::deque<GraphNode*> ready;
  for (auto& n : graph->nodes) {
    if (n->deps.empty()) ready.push_back(n.get());
  }
  exec->ops.clear();
  while (!ready.empty()) {
    GraphNode* n = ready.front();
    ready.pop_front();
    if (n->op.kind != Op::kNop) exec->ops.push_back(n->op);
    for (GraphNode* m : dependents[n]) {
      if (--pending[m] == 0) ready.push_back(m);
    }
  }
  size_t visited = 0;
  for (auto& [n, count] : pending) visited += count == 0 ? 1 : 0;
  return visited == graph->nodes.size();
}

std::shared_ptr<Graph> FindGraph(CUgraph handle) { return Graphs().Find(handle); }
std::shared_ptr<Graph> NewGraph() {
  auto g = std::make_shared<Graph>();
  Graphs().Add(g);
  return g;
}
std::shared_ptr<Graph> RemoveGraph(CUgraph handle) { return Graphs().Remove(handle); }
std::shared_ptr<GraphExec> FindGraphExec(CUgraphExec handle) { return Execs().Find(handle); }
std::shared_ptr<GraphExec> NewGraphExec() {
  auto e = std::make_shared<GraphExec>();
  Execs().Add(e);
  return e;
}
std::shared_ptr<GraphExec> RemoveGraphExec(CUgraphExec handle) { return Execs().Remove(handle); }
unsigned long long NextCaptureId() { return ++g_capture_ids; }

}  // namespace simgpu
