#!/usr/bin/env python3
"""Samples the GPU's utilisation (NVML: the share of the last sample period in
which a kernel was running) into a CSV with Unix timestamps, so run.sh can
average it over a job's measurement window. Run without the shim. Reads only."""

import argparse
import sys
import time


def main(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--interval-ms", type=float, default=100.0)
    p.add_argument("--duration-s", type=float, default=60.0)
    p.add_argument("--check-args", action="store_true")
    args = p.parse_args(argv)
    if args.check_args:
        print("nvml_sampler.py: arguments ok:", " ".join(argv))
        return 0
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    end = time.time() + args.duration_s
    with open(args.out, "w") as f:
        f.write("t,gpu_util_pct,mem_used_bytes\n")
        while time.time() < end:
            u = pynvml.nvmlDeviceGetUtilizationRates(handle)
            m = pynvml.nvmlDeviceGetMemoryInfo(handle)
            f.write(f"{time.time():.3f},{u.gpu},{m.used}\n")
            f.flush()
            time.sleep(args.interval_ms / 1e3)
    pynvml.nvmlShutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
