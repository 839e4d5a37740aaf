#!/usr/bin/env python3
"""A production inference service: ResNet-50 on a batch of images, requests
arriving at a fixed rate, each one answered with torch.cuda.synchronize().

The schedule is open-loop: request k is due at start + k * period, and its
latency is counted from when it was due, so a slow request delays the next
ones and shows up in their latency too (no coordinated omission). Without
--period-ms the period is chosen from the measured service time so that the
service keeps the GPU busy about --target-load of the time, which leaves room
for an opportunistic job.
"""

import argparse
import csv
import statistics
import sys
import time

import gv_common as gv
import gv_models


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--period-ms", type=float, help="time between requests (default: from --target-load)")
    p.add_argument("--target-load", type=float, default=0.25)
    p.add_argument("--min-period-ms", type=float, default=5.0)
    p.add_argument("--check-args", action="store_true", help="validate the arguments and exit (no torch)")
    gv.add_window_args(p, default_duration=12.0)
    args = p.parse_args(argv)
    if args.period_ms is not None and args.period_ms <= 0:
        p.error("--period-ms must be > 0")
    if not 0.01 <= args.target_load <= 1:
        p.error("--target-load must be in [0.01, 1]")
    return args


def sleep_until(deadline):
    """perf_counter deadline; sleeps, then spins the last half millisecond
    (time.sleep alone overshoots by up to a scheduler tick)."""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        if left > 0.0005:
            time.sleep(left - 0.0005)


def real_service(args):
    """ResNet-50 in eval mode and the function that answers one request."""
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("infer.py: torch.cuda.is_available() is False")
    cap = gv.cap_torch_memory(torch, args.mem_cap)
    model = gv_models.resnet50(torch).eval()
    x_host = torch.randn(args.batch, 3, 224, 224).contiguous(memory_format=torch.channels_last).pin_memory()
    x = torch.empty_like(x_host, device="cuda")

    def serve():
        x.copy_(x_host, non_blocking=True)
        with torch.inference_mode(), torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            model(x)
        torch.cuda.synchronize()

    return torch, serve, cap


def main(argv):
    args = parse_args(argv)
    if args.check_args:
        print("infer.py: arguments ok:", " ".join(argv))
        return 0
    if args.fake_gpu:  # selftest: same loop, a sleep instead of a GPU
        import gv_fake
        torch, serve = gv_fake.FakeTorch(), gv_fake.fake_serve
        cap = gv.cap_torch_memory(torch, args.mem_cap)
    else:
        torch, serve, cap = real_service(args)

    # Service time back to back, then the period.
    service = []
    for i in range(20):
        t0 = time.perf_counter()
        serve()
        if i >= 10:
            service.append((time.perf_counter() - t0) * 1e3)
    solo_service_ms = statistics.median(service)
    period_ms = args.period_ms or max(args.min_period_ms, solo_service_ms / args.target_load)
    print(f"{args.name}: service {solo_service_ms:.2f} ms, one request every {period_ms:.2f} ms", flush=True)

    window = gv.window_from_args(args)
    period = period_ms / 1e3
    rows = []  # request, phase, end time (Unix s), latency ms (from due), service ms, late start ms
    resyncs = 0
    due = time.perf_counter()
    n = 0
    while True:
        phase = window.phase(n)
        if phase == window.DONE:
            break
        sleep_until(due)
        t0 = time.perf_counter()
        serve()
        t1 = time.perf_counter()
        rows.append((n, phase, time.time(), (t1 - due) * 1e3, (t1 - t0) * 1e3, (t0 - due) * 1e3))
        due += period
        if t1 - due > 1.0:  # a second behind (the GPU stalled): restart the schedule rather than burst
            due = t1
            resyncs += 1
        n += 1

    inside = [r for r in rows if window.start <= r[2] < window.end]
    span = window.end - window.start
    result = {
        "name": args.name, "batch": args.batch, "env": gv.shim_environment(), "memory_cap": cap,
        "solo_service_ms": solo_service_ms, "period_ms": period_ms,
        "window": {"start": window.start, "end": window.end},
        "requests_in_window": len(inside),
        "achieved_rate": len(inside) / span if span > 0 else 0.0,
        "offered_rate": 1e3 / period_ms,
        "latency_ms": gv.describe([r[3] for r in inside]),
        "service_ms": gv.describe([r[4] for r in inside]),
        "late_starts": sum(1 for r in inside if r[5] > 1.0),
        "resyncs": resyncs,
        "max_memory_allocated": torch.cuda.max_memory_allocated(),
    }
    gv.write_json(args.out, result)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["request", "phase", "t_end", "latency_ms", "service_ms", "start_delay_ms"])
            w.writerows(rows)
    lat = result["latency_ms"]
    print(f"{args.name}: {len(inside)} requests, p50 {lat.get('p50', float('nan')):.2f} ms, "
          f"p99 {lat.get('p99', float('nan')):.2f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
