// NodeWatch for a tgs-controller built without eBPF support (no libbpf-dev,
// bpftool, clang or kernel BTF on the build host): Start says so.
#include "controller/watch/node_watch.h"

namespace tgs::controller {

struct NodeWatch::Impl {};

std::unique_ptr<NodeWatch> NodeWatch::Start(const NodeWatchOptions&, std::string* why_not) {
  *why_not =
      "this tgs-controller was built without eBPF support (needs libbpf-dev, bpftool, clang and "
      "/sys/kernel/btf/vmlinux on the build host)";
  return nullptr;
}

NodeWatch::~NodeWatch() = default;
int NodeWatch::fd() const { return -1; }
void NodeWatch::Drain(const std::function<void(const WatchEvent&)>&) {}
void NodeWatch::Watch(pid_t) {}
void NodeWatch::Unwatch(pid_t) {}

}  // namespace tgs::controller
