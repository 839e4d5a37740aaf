#!/usr/bin/env python3
"""The shim's memory limit as unmodified PyTorch and NVML see it.

Run with the shim preloaded and TGS_MEMORY_LIMIT set (run.sh does), no
controller. Checks, in order (each a PASS/FAIL entry in the JSON):
  - torch.cuda.mem_get_info() reports total == the limit;
  - the device's total memory (cudaGetDeviceProperties) == the limit;
  - half the limit can be allocated and written, and free memory drops by it;
  - NVML (pynvml, nvmlDeviceGetMemoryInfo) reports total == the limit and
    used >= what this process holds;
  - holding half, asking for (half + 1 GiB) more raises torch.OutOfMemoryError;
  - after freeing, free memory is back where it started;
  - one allocation of (limit + 1 GiB) raises torch.OutOfMemoryError;
  - after those refusals, 7/8 of the limit can still be allocated (a refused
    allocation leaves nothing charged).
The most this asks of the real GPU, were the shim to enforce nothing, is
limit + 1 GiB at once (9 GiB for the default 8 GiB limit); plain device
memory only, never managed memory. It does not cap PyTorch's allocator
(set_per_process_memory_fraction), since then PyTorch, not the shim, would
refuse.
"""

import argparse
import os
import sys
import traceback

import gv_common as gv

GiB = gv.GiB
# Free memory may legitimately differ by a little between two readings (a
# library loading its kernels); a leak of a refused or freed allocation is GiBs.
SLACK = 32 * gv.MiB


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=gv.size_type, default=os.environ.get("TGS_MEMORY_LIMIT", "8GiB"),
                   help="the limit the shim enforces (default: $TGS_MEMORY_LIMIT)")
    p.add_argument("--out", required=True)
    p.add_argument("--expandable-segments", action="store_true",
                   help="PyTorch's expandable segments (cuMemCreate/cuMemMap) instead of cudaMalloc")
    p.add_argument("--check-args", action="store_true", help="validate the arguments and exit (no torch)")
    args = p.parse_args(argv)
    if not 2 * GiB <= args.limit <= 32 * GiB:
        p.error("--limit must be between 2GiB and 32GiB: the test allocates up to limit + 1 GiB")
    return args


class Checks:
    def __init__(self):
        self.items = []

    def add(self, name, ok, **values):
        self.items.append({"name": name, "ok": bool(ok), **values})
        print(f"{'PASS' if ok else 'FAIL'}  {name}  {values}", flush=True)
        return ok


def expect_oom(torch, checks, name, nbytes):
    oom = gv.oom_error_type(torch)
    try:
        t = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    except oom as e:
        return checks.add(name, True, asked=nbytes, error=str(e).splitlines()[0][:300])
    except RuntimeError as e:  # any other CUDA error is a failure, and worth seeing
        return checks.add(name, False, asked=nbytes, error=f"{type(e).__name__}: {str(e)[:300]}")
    del t
    torch.cuda.empty_cache()
    return checks.add(name, False, asked=nbytes, error="allocation succeeded")


def nvml_view(torch, checks, limit, held):
    try:
        import pynvml
    except ImportError as e:
        checks.add("NVML reports total == limit", False, error=f"pynvml missing: {e}")
        return
    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
        checks.add("NVML reports total == limit", info.total == limit, total=info.total, limit=limit)
        checks.add("NVML used >= memory this process holds", info.used >= held, used=info.used, held=held)
        try:  # the _v2 query, where this pynvml has it
            info2 = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
            checks.add("NVML v2 reports total == limit", info2.total == limit, total=info2.total, limit=limit)
        except (AttributeError, TypeError, pynvml.NVMLError) as e:
            print(f"(NVML v2 memory query not checked: {e})", flush=True)
    finally:
        pynvml.nvmlShutdown()


def expandable_in_use(torch):
    """Whether the allocator's segments are expandable (what the report says
    the second run exercised), or None where the snapshot does not tell."""
    try:
        segments = torch.cuda.memory_snapshot()
        return any(s.get("is_expandable", False) for s in segments) if segments else None
    except Exception:  # a private structure: its absence is not a failure of TGS
        return None


def run(limit, checks, result, expandable):
    import torch

    if expandable:
        # Before the first allocation; PYTORCH_CUDA_ALLOC_CONF (run.sh sets it
        # too) is read at start-up, this private call is what PyTorch's own
        # tests use. Either suffices.
        try:
            torch.cuda.memory._set_allocator_settings("expandable_segments:True")
        except Exception as e:
            print(f"(_set_allocator_settings failed: {e}; relying on PYTORCH_CUDA_ALLOC_CONF)", flush=True)
    result["torch"] = torch.__version__
    result["allocator_backend"] = torch.cuda.get_allocator_backend()
    free0, total = torch.cuda.mem_get_info()
    result["initial"] = {"free": free0, "total": total}
    checks.add("mem_get_info total == limit", total == limit, total=total, limit=limit)
    props_total = torch.cuda.get_device_properties(0).total_memory
    checks.add("device total memory == limit", props_total == limit, total_memory=props_total, limit=limit)

    half = limit // 2
    a = torch.empty(half, dtype=torch.uint8, device="cuda")
    a.fill_(1)
    torch.cuda.synchronize()
    checks.add("allocate and write half the limit", int(a[-1].item()) == 1, bytes=half)
    result["expandable_segments_in_use"] = expandable_in_use(torch)
    free1, _ = torch.cuda.mem_get_info()
    checks.add("free memory drops by the allocation", free0 - free1 >= half, free_before=free0,
               free_after=free1, allocated=half)
    nvml_view(torch, checks, limit, held=half)
    expect_oom(torch, checks, "holding half, half + 1 GiB more is refused (OutOfMemoryError)", half + GiB)

    del a
    torch.cuda.empty_cache()
    free2, _ = torch.cuda.mem_get_info()
    checks.add("freeing gives the memory back", free2 >= free0 - SLACK, free_start=free0, free_now=free2)

    expect_oom(torch, checks, "one allocation of limit + 1 GiB is refused (OutOfMemoryError)", limit + GiB)

    most = limit // 8 * 7
    b = torch.empty(most, dtype=torch.uint8, device="cuda")
    b.fill_(2)
    torch.cuda.synchronize()
    checks.add("after refusals, 7/8 of the limit can be allocated", int(b[0].item()) == 2, bytes=most)
    del b
    torch.cuda.empty_cache()
    free3, _ = torch.cuda.mem_get_info()
    checks.add("free memory back at the start value at the end", free3 >= free0 - SLACK, free_start=free0,
               free_end=free3)


def main(argv):
    args = parse_args(argv)
    if args.check_args:
        print("memlimit.py: arguments ok:", " ".join(argv))
        return 0
    limit = args.limit
    checks = Checks()
    result = {"limit": limit, "env": gv.shim_environment(), "checks": checks.items}
    try:
        run(limit, checks, result, args.expandable_segments)
    except Exception as e:  # record what broke; the checks so far still count
        result["error"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-2000:]
        checks.add("the test ran to the end", False, error=f"{type(e).__name__}: {str(e)[:300]}")
    result["passed"] = all(c["ok"] for c in checks.items) and bool(checks.items)
    gv.write_json(args.out, result)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
