#include "controller/watch/node_watch.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "controller/watch/node_watch.skel.h"
#include "controller/watch/node_watch_events.h"
#include "shim/util/log.h"

namespace tgs::controller {

struct NodeWatch::Impl {
  node_watch_bpf* skel = nullptr;
  ring_buffer* ring = nullptr;
  std::vector<bpf_link*> uprobes;
  std::vector<std::string> probed;  // cookie -> function name
  std::vector<std::string> prefixes;
  const std::function<void(const WatchEvent&)>* sink = nullptr;

  ~Impl() {
    for (bpf_link* l : uprobes) bpf_link__destroy(l);
    if (ring != nullptr) ring_buffer__free(ring);
    if (skel != nullptr) node_watch_bpf__destroy(skel);
  }

  static int OnSample(void* self, void* data, size_t size) {
    auto* impl = static_cast<Impl*>(self);
    if (size < sizeof(tgs_watch_event) || impl->sink == nullptr) return 0;
    const auto* e = static_cast<const tgs_watch_event*>(data);
    WatchEvent out;
    out.pid = static_cast<pid_t>(e->pid);
    out.cgroup_id = e->cgroup_id;
    out.comm.assign(e->comm, strnlen(e->comm, sizeof e->comm));
    switch (e->kind) {
      case TGS_WATCH_EXIT:
        out.kind = WatchEvent::Kind::kExit;
        break;
      case TGS_WATCH_DEVICE_OPEN:
        out.kind = WatchEvent::Kind::kDeviceOpen;
        out.what.assign(e->path, strnlen(e->path, sizeof e->path));
        break;
      case TGS_WATCH_DRIVER_CALL:
        out.kind = WatchEvent::Kind::kDriverCall;
        out.what = e->detail < impl->probed.size() ? impl->probed[e->detail] : "the driver";
        break;
      default:
        return 0;
    }
    (*impl->sink)(out);
    return 0;
  }
};

namespace {

// libbpf's own messages go to our log at debug (its warnings about missing
// privileges are summed up in one line by Start).
int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || !LogEnabled(LogLevel::kDebug)) return 0;
  char line[512];
  vsnprintf(line, sizeof line, format, args);
  size_t n = strlen(line);
  if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
  TGS_LOG_DEBUG("libbpf: %s", line);
  return 0;
}

std::string Why(const char* step, int err) {
  err = err < 0 ? -err : err;
  std::string text = std::string(step) + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES) text += " (needs CAP_BPF and CAP_PERFMON; uprobes also CAP_SYS_ADMIN)";
  return text;
}

}  // namespace

std::unique_ptr<NodeWatch> NodeWatch::Start(const NodeWatchOptions& options, std::string* why_not) {
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<NodeWatch> watch(new NodeWatch());
  watch->impl_ = std::make_unique<Impl>();
  Impl& impl = *watch->impl_;
  impl.skel = node_watch_bpf__open();
  if (impl.skel == nullptr) {
    *why_not = Why("opening the BPF object", errno);
    return nullptr;
  }
  for (const std::string& p : options.device_prefixes) {
    size_t i = impl.prefixes.size();
    if (i >= TGS_WATCH_MAX_PREFIXES || p.empty() || p.size() >= TGS_WATCH_PATH_LEN) continue;
    std::memcpy(impl.skel->rodata->prefixes[i], p.c_str(), p.size() + 1);
    impl.skel->rodata->prefix_lens[i] = static_cast<__u32>(p.size());
    impl.prefixes.push_back(p);
  }
  // The uprobe program is attached by hand below, per library and function.
  bpf_program__set_autoattach(impl.skel->progs.tgs_driver_call, false);
  // Without device prefixes no program runs at every syscall's entry.
  if (impl.prefixes.empty()) bpf_program__set_autoload(impl.skel->progs.tgs_sys_enter, false);
  if (int err = node_watch_bpf__load(impl.skel); err != 0) {
    *why_not = Why("loading the BPF programs", err);
    return nullptr;
  }
  if (int err = node_watch_bpf__attach(impl.skel); err != 0) {
    *why_not = Why("attaching to sched_process_exit and sys_enter", err);
    return nullptr;
  }
  impl.ring = ring_buffer__new(bpf_map__fd(impl.skel->maps.events), &Impl::OnSample, &impl, nullptr);
  if (impl.ring == nullptr) {
    *why_not = Why("setting up the ring buffer", errno);
    return nullptr;
  }
  std::string description = "process exits";
  if (!impl.prefixes.empty()) {
    description += "; opens of";
    for (const std::string& p : impl.prefixes) description += " " + p + "*";
  }
  for (const std::string& library : options.driver_libraries) {
    int attached = 0;
    std::string failure;
    for (const std::string& fn : options.driver_functions) {
      LIBBPF_OPTS(bpf_uprobe_opts, uopts, .bpf_cookie = impl.probed.size(), .func_name = fn.c_str());
      bpf_link* link = bpf_program__attach_uprobe_opts(impl.skel->progs.tgs_driver_call, -1, library.c_str(), 0,
                                                       &uopts);
      if (link == nullptr) {
        if (failure.empty()) failure = Why(("uprobe on " + fn).c_str(), errno);
        continue;
      }
      impl.uprobes.push_back(link);
      impl.probed.push_back(fn);
      ++attached;
    }
    if (attached > 0) {
      description += "; " + std::to_string(attached) + " entry points of " + library;
    } else {
      TGS_LOG_WARN("node watch: no uprobe on %s (%s); it still sees device opens", library.c_str(),
                   failure.c_str());
    }
  }
  watch->description_ = description;
  return watch;
}

NodeWatch::~NodeWatch() = default;

int NodeWatch::fd() const { return ring_buffer__epoll_fd(impl_->ring); }

void NodeWatch::Drain(const std::function<void(const WatchEvent&)>& on_event) {
  impl_->sink = &on_event;
  ring_buffer__consume(impl_->ring);
  impl_->sink = nullptr;
}

void NodeWatch::Watch(pid_t pid) {
  __u32 key = static_cast<__u32>(pid);
  __u8 one = 1;
  bpf_map__update_elem(impl_->skel->maps.watched, &key, sizeof key, &one, sizeof one, BPF_ANY);
}

void NodeWatch::Unwatch(pid_t pid) {
  __u32 key = static_cast<__u32>(pid);
  bpf_map__delete_elem(impl_->skel->maps.watched, &key, sizeof key, 0);
}

}  // namespace tgs::controller
