#!/usr/bin/env python3
"""Fallback for launch_bench.cu when nvcc is missing: the same two numbers
through PyTorch (x.add_(1) on a one-element tensor). Python's own cost per op
(several microseconds) is included in both runs, so only the difference
between a run with and without the shim means anything. Same JSON output."""

import argparse
import json
import sys
import time

import gv_common as gv


def main(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bursts", type=int, default=100)
    p.add_argument("--burst", type=int, default=256)
    p.add_argument("--roundtrips", type=int, default=1000)
    p.add_argument("--label", default="unnamed")
    p.add_argument("--check-args", action="store_true")
    args = p.parse_args(argv)
    if args.check_args:
        print("launch_bench.py: arguments ok:", " ".join(argv))
        return 0
    import torch

    x = torch.zeros(1, device="cuda")
    for _ in range(2000):
        x.add_(1)
    torch.cuda.synchronize()
    enqueue = []
    for _ in range(args.bursts):
        t0 = time.perf_counter()
        for _ in range(args.burst):
            x.add_(1)
        enqueue.append((time.perf_counter() - t0) * 1e9 / args.burst)
        torch.cuda.synchronize()
    roundtrip = []
    for _ in range(args.roundtrips):
        t0 = time.perf_counter()
        x.add_(1)
        torch.cuda.synchronize()
        roundtrip.append((time.perf_counter() - t0) * 1e6)
    expected = 2000 + args.bursts * args.burst + args.roundtrips
    result = {
        "label": args.label, "impl": "torch", "launches": expected,
        "correct": int(x.item()) == expected,
        "enqueue_ns": {q: gv.percentile(enqueue, n) for q, n in (("p10", 10), ("p50", 50), ("p90", 90))},
        "roundtrip_us": {q: gv.percentile(roundtrip, n) for q, n in (("p10", 10), ("p50", 50), ("p90", 90),
                                                                      ("p99", 99))},
    }
    print(json.dumps(result))
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
