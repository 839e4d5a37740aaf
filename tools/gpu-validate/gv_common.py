"""Helpers shared by the GPU validation scripts.

Nothing here imports torch, so argument parsing, the measurement window and the
statistics can be exercised on a machine without a GPU (selftest.sh does).
"""

import argparse
import json
import math
import os
import re
import time

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

_UNITS = {
    "": 1, "b": 1,
    "k": KiB, "kib": KiB, "m": MiB, "mib": MiB, "g": GiB, "gib": GiB, "t": 1 << 40, "tib": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
}


def parse_size(text):
    """Bytes in '8GiB', '512MiB', '1.5GB' or '1073741824': the units TGS_MEMORY_LIMIT takes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 8GiB, 512MiB, 1.5GB, 1073741824)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def size_type(text):
    """argparse type for sizes: a bad one is a usage error, not a traceback."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def write_json(path, obj):
    """Writes atomically, so a reader (summarize.py after a kill) never sees half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=str)  # NaN stays NaN: Python reads it back
        f.write("\n")
    os.replace(tmp, path)


def percentile(values, q):
    """q in [0, 100], linear interpolation between order statistics (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def describe(values):
    """Count, mean and the percentiles the report uses."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": sum(values) / len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
        "min": min(values),
    }


def rate_between(end_times, start, end):
    """Iterations per second from the completion times that fall in [start, end).

    (k - 1) intervals over the time between the first and the last completion:
    this does not depend on where the window's edges cut an iteration."""
    inside = [t for t in end_times if start <= t < end]
    if len(inside) < 2:
        return 0.0, len(inside)
    return (len(inside) - 1) / (inside[-1] - inside[0]), len(inside)


class Window:
    """When a job measures.

    Standalone (no sync_dir): after the warm-up it measures for duration_s.
    Started by run.sh with other jobs (sync_dir set): after the warm-up it
    creates <sync_dir>/<name>.ready and keeps working; run.sh writes
    <sync_dir>/go ("<start> <end>", Unix seconds) once every job is ready, so
    that all jobs of a scenario measure the same wall-clock interval and none
    measures while another is still importing torch. The job keeps working
    until the end, so the others never run alone inside the window.
    """

    WARMUP, MEASURE, DONE = "warmup", "measure", "done"

    def __init__(self, *, name, warmup_s, warmup_steps, duration_s, sync_dir=None, go_timeout_s=180.0,
                 clock=time.time):
        self.name = name
        self.warmup_s = warmup_s
        self.warmup_steps = warmup_steps
        self.duration_s = duration_s
        self.sync_dir = sync_dir
        self.go_timeout_s = go_timeout_s
        self.clock = clock
        self.created = clock()
        self.ready_at = None
        self.start = None
        self.end = None
        self._next_poll = 0.0

    def phase(self, steps_done):
        """The phase at this moment, given how many steps the job has completed."""
        now = self.clock()
        if self.start is None:
            self._advance(now, steps_done)
        if self.start is None or now < self.start:
            return self.WARMUP
        return self.MEASURE if now < self.end else self.DONE

    def _advance(self, now, steps_done):
        if self.ready_at is None:
            if steps_done < self.warmup_steps or now - self.created < self.warmup_s:
                return
            self.ready_at = now
            if self.sync_dir is None:
                self.start, self.end = now, now + self.duration_s
                return
            with open(os.path.join(self.sync_dir, f"{self.name}.ready"), "w") as f:
                f.write(f"{now:.6f}\n")
        if self.sync_dir is None or now < self._next_poll:
            return
        self._next_poll = now + 0.05  # cheap enough per step, fine-grained enough for a 1 s lead
        go = os.path.join(self.sync_dir, "go")
        try:
            with open(go) as f:
                fields = f.read().split()
            if len(fields) == 2:
                self.start, self.end = float(fields[0]), float(fields[1])
                return
        except FileNotFoundError:
            pass
        if now - self.ready_at > self.go_timeout_s:
            raise TimeoutError(f"{self.name}: no start signal in {self.sync_dir}/go after {self.go_timeout_s:.0f} s")


def add_window_args(parser, default_duration):
    """The options every measured job takes (run.sh passes them)."""
    parser.add_argument("--name", default="job", help="job name: file names and the ready signal")
    parser.add_argument("--sync-dir", help="directory of the start signal shared with other jobs (run.sh)")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="minimum warm-up before measuring")
    parser.add_argument("--warmup-steps", type=int, default=5, help="minimum warm-up steps before measuring")
    parser.add_argument("--duration-s", type=float, default=default_duration,
                        help="measurement length when no --sync-dir is given")
    parser.add_argument("--out", required=True, help="JSON result file")
    parser.add_argument("--csv", help="per-step CSV file")
    parser.add_argument("--mem-cap", type=size_type, default="8GiB",
                        help="cap on what PyTorch's allocator may take (a safety bound, not a test)")
    parser.add_argument("--fake-gpu", action="store_true", help=argparse.SUPPRESS)  # selftest only: gv_fake


def window_from_args(args):
    return Window(name=args.name, warmup_s=args.warmup_s, warmup_steps=args.warmup_steps,
                  duration_s=args.duration_s, sync_dir=args.sync_dir)


def shim_environment():
    """What the result files record about how the process was run."""
    keys = ("LD_PRELOAD", "TGS_CONTAINER_ID", "TGS_MEMORY_LIMIT", "TGS_CONTROLLER_SOCKET", "TGS_STATE_DIR",
            "PYTORCH_CUDA_ALLOC_CONF")
    env = {k: os.environ[k] for k in keys if k in os.environ}
    env["shim"] = "libtgs.so" in os.environ.get("LD_PRELOAD", "")
    return env


def cap_torch_memory(torch, cap_bytes):
    """Bounds PyTorch's allocator so no job can take more than a few GiB, whatever
    happens (the GPU is shared with the other job and with nothing else of ours).
    The fraction is of the total the process sees: under the shim, the limit."""
    _, total = torch.cuda.mem_get_info()
    fraction = min(1.0, cap_bytes / total)
    torch.cuda.set_per_process_memory_fraction(fraction)
    return {"cap_bytes": cap_bytes, "visible_total": total, "fraction": fraction}


def oom_error_type(torch):
    """torch.OutOfMemoryError (2.5+) is torch.cuda.OutOfMemoryError (1.13+)."""
    return getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
