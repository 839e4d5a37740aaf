// SPDX-License-Identifier: GPL-2.0
/* The node watch's kernel side (CO-RE, loaded by node_watch.cc):
 *  - sched_process_exit of processes tgs-controller registered: a second,
 *    kernel-side signal that a process is gone, for when its socket close is
 *    missed;
 *  - opens of GPU device paths (at syscall entry) and entries into the
 *    driver library (uprobes attached by path from user space): GPU use the
 *    controller then checks against the processes that registered through
 *    the shim.
 * Each process is reported at most once per kind until it exits. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "node_watch_events.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the controller before loading: path prefixes that mean "a GPU". */
const volatile char prefixes[TGS_WATCH_MAX_PREFIXES][TGS_WATCH_PATH_LEN] = {};
const volatile __u32 prefix_lens[TGS_WATCH_MAX_PREFIXES] = {};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Processes registered with the controller: their exit is reported. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, __u8);
} watched SEC(".maps");

/* Kinds already reported per process (bit 1 << kind), so a busy process
 * costs one event, not one per open or call. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u64); /* 64-bit: BPF atomics need it */
} reported SEC(".maps");

static __always_inline int first_time(__u32 pid, __u32 kind) {
  __u64 bit = 1ull << kind;
  __u64 *seen = bpf_map_lookup_elem(&reported, &pid);
  if (seen) {
    if (*seen & bit) return 0;
    __sync_fetch_and_or(seen, bit);
    return 1;
  }
  bpf_map_update_elem(&reported, &pid, &bit, BPF_ANY);
  return 1;
}

static __always_inline struct tgs_watch_event *reserve(__u32 kind, __u32 pid, __u32 detail) {
  struct tgs_watch_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->kind = kind;
  e->pid = pid;
  e->cgroup_id = bpf_get_current_cgroup_id();
  e->time_ns = bpf_ktime_get_ns();
  e->detail = detail;
  e->reserved = 0;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  e->path[0] = 0;
  return e;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tgs_process_exit, struct task_struct *task) {
  __u32 pid = task->tgid;
  if (task->pid != pid) return 0; /* a thread; the process lives on */
  bpf_map_delete_elem(&reported, &pid);
  if (!bpf_map_lookup_elem(&watched, &pid)) return 0;
  bpf_map_delete_elem(&watched, &pid);
  struct tgs_watch_event *e = reserve(TGS_WATCH_EXIT, pid, 0);
  if (e) bpf_ringbuf_submit(e, 0);
  return 0;
}

/* Opens are seen at syscall entry (a raw tracepoint: no tracefs, no kprobe
 * support needed, which some kernels lack), matching the path as the
 * process gave it; GPU device and shared-memory paths are absolute in
 * practice (drivers, glibc's shm_open). */
#if defined(__TARGET_ARCH_x86)
#define TGS_NR_OPEN 2
#define TGS_NR_OPENAT 257
#elif defined(__TARGET_ARCH_arm64)
#define TGS_NR_OPEN -1 /* no open(2) on arm64 */
#define TGS_NR_OPENAT 56
#endif
#define TGS_NR_OPENAT2 437

SEC("tp_btf/sys_enter")
int BPF_PROG(tgs_sys_enter, struct pt_regs *regs, long id) {
  const char *user_path;
  if (id == TGS_NR_OPENAT || id == TGS_NR_OPENAT2) {
    user_path = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
  } else if (id == TGS_NR_OPEN) {
    user_path = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
  } else {
    return 0;
  }
  char path[TGS_WATCH_PATH_LEN];
  if (bpf_probe_read_user_str(path, sizeof(path), user_path) <= 0) return 0;
  for (__u32 i = 0; i < TGS_WATCH_MAX_PREFIXES; i++) {
    __u32 len = prefix_lens[i];
    if (len == 0 || len > TGS_WATCH_PATH_LEN) continue;
    int match = 1;
    for (__u32 j = 0; j < TGS_WATCH_PATH_LEN; j++) {
      if (j >= len) break;
      if (path[j] != prefixes[i][j]) {
        match = 0;
        break;
      }
    }
    if (!match) continue;
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (!first_time(pid, TGS_WATCH_DEVICE_OPEN)) return 0;
    struct tgs_watch_event *e = reserve(TGS_WATCH_DEVICE_OPEN, pid, i);
    if (!e) return 0;
    __builtin_memcpy(e->path, path, sizeof(path));
    bpf_ringbuf_submit(e, 0);
    return 0;
  }
  return 0;
}

SEC("uprobe")
int tgs_driver_call(struct pt_regs *ctx) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  if (!first_time(pid, TGS_WATCH_DRIVER_CALL)) return 0;
  struct tgs_watch_event *e = reserve(TGS_WATCH_DRIVER_CALL, pid, (__u32)bpf_get_attach_cookie(ctx));
  if (e) bpf_ringbuf_submit(e, 0);
  return 0;
}
