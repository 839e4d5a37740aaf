/* What the node watch's BPF programs (node_watch.bpf.c) report to
 * tgs-controller through their ring buffer. Plain C, shared by the BPF
 * object and the controller; fixed-size fields only. */
#ifndef TGS_CONTROLLER_WATCH_NODE_WATCH_EVENTS_H_
#define TGS_CONTROLLER_WATCH_NODE_WATCH_EVENTS_H_

#define TGS_WATCH_COMM_LEN 16
#define TGS_WATCH_PATH_LEN 64
#define TGS_WATCH_MAX_PREFIXES 4

enum tgs_watch_kind {
  TGS_WATCH_EXIT = 1,         /* a watched (registered) process exited */
  TGS_WATCH_DEVICE_OPEN = 2,  /* a process opened a GPU device path; detail = prefix index */
  TGS_WATCH_DRIVER_CALL = 3,  /* a process entered the driver library; detail = probe cookie */
};

struct tgs_watch_event {
  __u32 kind;
  __u32 pid; /* thread-group id, in the initial PID namespace */
  __u64 cgroup_id;
  __u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
  __u32 detail;
  __u32 reserved;
  char comm[TGS_WATCH_COMM_LEN];
  char path[TGS_WATCH_PATH_LEN];
};

#endif /* TGS_CONTROLLER_WATCH_NODE_WATCH_EVENTS_H_ */
