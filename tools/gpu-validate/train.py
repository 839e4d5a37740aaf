#!/usr/bin/env python3
"""Unmodified PyTorch training, used two ways by run.sh.

--mode check   trains ResNet-50 and a small Transformer for --steps steps each,
               deterministically, and records every loss and step time; run
               once without and once under the shim, the two runs must agree.
--mode job     one model in a loop for a measured window (the sharing
               scenarios): per-step completion times, the GPU time of each step
               (CUDA events), and the loss. Production jobs sleep --data-ms per
               step on the host ("data loading"), which leaves the GPU idle
               for the opportunistic job; --busy-target picks that sleep from
               the step's own compute time instead.

Every loss is read with .item() each step, as training loops that log it do;
that synchronisation is also what tells TGS production's work is done.
"""

import argparse
import csv
import math
import statistics
import sys
import time

import gv_common as gv
import gv_models


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("check", "job"), required=True)
    p.add_argument("--model", choices=("resnet50", "transformer", "both"), default="both")
    p.add_argument("--batch", type=int, help="batch size (default: per model)")
    p.add_argument("--steps", type=int, default=30, help="check mode: steps per model")
    p.add_argument("--data-ms", type=float, help="job mode: host-side sleep per step (ms)")
    p.add_argument("--busy-target", type=float,
                   help="job mode without --data-ms: choose the sleep so the GPU is busy this fraction of a step")
    p.add_argument("--check-args", action="store_true", help="validate the arguments and exit (no torch)")
    gv.add_window_args(p, default_duration=15.0)
    args = p.parse_args(argv)
    if args.mode == "job" and args.model == "both":
        p.error("--mode job trains one model: --model resnet50 or transformer")
    if args.fake_gpu and args.mode != "job":
        p.error("--fake-gpu is for --mode job only")
    if args.busy_target is not None and not 0.05 <= args.busy_target <= 1.0:
        p.error("--busy-target must be in [0.05, 1]")
    if args.data_ms is not None and args.data_ms < 0:
        p.error("--data-ms must be >= 0")
    return args


def torch_setup(deterministic):
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("train.py: torch.cuda.is_available() is False")
    if deterministic:
        # Same inputs, same kernels, same order: the losses with and without
        # the shim can then be compared exactly (CUBLAS_WORKSPACE_CONFIG is
        # set by run.sh, as cuBLAS requires for determinism).
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch


def run_check(args):
    torch = torch_setup(deterministic=True)
    cap = gv.cap_torch_memory(torch, args.mem_cap)
    models = ["resnet50", "transformer"] if args.model == "both" else [args.model]
    result = {"mode": "check", "env": gv.shim_environment(), "memory_cap": cap, "models": {},
              "device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    rows = []
    for name in models:
        batch = args.batch or gv_models.default_batch(name)
        trainer = gv_models.Trainer(torch, name, batch, seed=1234)
        losses, step_ms = [], []
        for i in range(args.steps):
            t0 = time.perf_counter()
            loss = trainer.step(i).item()
            step_ms.append((time.perf_counter() - t0) * 1e3)
            losses.append(loss)
            rows.append((name, i, step_ms[-1], loss))
        q = max(1, len(losses) // 4)
        first, last = statistics.fmean(losses[:q]), statistics.fmean(losses[-q:])
        steady = step_ms[min(5, len(step_ms) - 1):]  # first steps pay for cuDNN/cuBLAS set-up
        result["models"][name] = {
            "batch": batch,
            "losses": losses,
            "step_ms": step_ms,
            "finite": all(math.isfinite(x) for x in losses),
            "first_quarter_mean": first,
            "last_quarter_mean": last,
            "decrease_ratio": last / first if first else float("nan"),
            "steady_step_ms_median": statistics.median(steady),
            "samples_per_s": batch * 1e3 / statistics.median(steady),
            "max_memory_allocated": torch.cuda.max_memory_allocated(),
        }
        del trainer
        torch.cuda.empty_cache()
        print(f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
              f"median step {result['models'][name]['steady_step_ms_median']:.2f} ms", flush=True)
    gv.write_json(args.out, result)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["model", "step", "step_ms", "loss"])
            w.writerows(rows)


def run_job(args):
    if args.fake_gpu:  # selftest: same loop, sleeps instead of a GPU
        import gv_fake
        torch, trainer = gv_fake.FakeTorch(), gv_fake.FakeTrainer(args.model)
        batch = args.batch or gv_models.default_batch(args.model)
        cap = gv.cap_torch_memory(torch, args.mem_cap)
    else:
        torch = torch_setup(deterministic=False)
        cap = gv.cap_torch_memory(torch, args.mem_cap)
        batch = args.batch or gv_models.default_batch(args.model)
        trainer = gv_models.Trainer(torch, args.model, batch)
    window = gv.window_from_args(args)
    data_ms = args.data_ms
    calibrate = data_ms is None and args.busy_target is not None
    warmup_steps = args.warmup_steps
    if calibrate:
        warmup_steps = max(warmup_steps, 14)  # 4 to settle, 10 to time
        window.warmup_steps = warmup_steps
    data_ms = data_ms or 0.0
    compute_ms = []
    ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    rows = []  # step, phase, end time (Unix s), step ms, GPU ms, loss
    step = 0
    while True:
        phase = window.phase(step)
        if phase == window.DONE:
            break
        t0 = time.time()
        if data_ms > 0:
            time.sleep(data_ms / 1e3)  # host-side data loading: the GPU idles meanwhile
        t1 = time.time()
        ev0.record()
        loss = trainer.step(step)
        ev1.record()
        loss_value = loss.item()
        t2 = time.time()
        rows.append((step, phase, t2, (t2 - t0) * 1e3, ev0.elapsed_time(ev1), loss_value))
        if calibrate and step >= 4:
            compute_ms.append((t2 - t1) * 1e3)
            if len(compute_ms) == 10:
                # busy = c / (c + sleep)  =>  sleep = c (1 - busy) / busy
                data_ms = statistics.median(compute_ms) * (1 - args.busy_target) / args.busy_target
                calibrate = False
                print(f"{args.name}: compute {statistics.median(compute_ms):.2f} ms/step, "
                      f"data-loading sleep set to {data_ms:.2f} ms", flush=True)
        step += 1
    write_job_result(args, torch, rows, window, batch, data_ms, cap)


def write_job_result(args, torch, rows, window, batch, data_ms, cap):
    inside = [r for r in rows if window.start <= r[2] < window.end]
    rate, n = gv.rate_between([r[2] for r in rows], window.start, window.end)
    # Each step after the first in the window lies between two completions,
    # so its GPU time over that span is production's busy fraction.
    busy = float("nan")
    if len(inside) >= 2:
        busy = sum(r[4] for r in inside[1:]) / ((inside[-1][2] - inside[0][2]) * 1e3)
    losses = [r[5] for r in rows]
    result = {
        "mode": "job", "name": args.name, "model": args.model, "batch": batch,
        "env": gv.shim_environment(), "memory_cap": cap,
        "data_ms": data_ms, "busy_target": args.busy_target,
        "window": {"start": window.start, "end": window.end, "ready_at": window.ready_at},
        "steps_total": len(rows), "steps_in_window": n,
        "iters_per_s": rate, "samples_per_s": rate * batch,
        "gpu_busy_fraction": busy,
        "step_ms": gv.describe([r[3] for r in inside]),
        "gpu_ms": gv.describe([r[4] for r in inside]),
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "loss_finite": all(math.isfinite(x) for x in losses),
        "max_memory_allocated": torch.cuda.max_memory_allocated(),
    }
    gv.write_json(args.out, result)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "phase", "t_end", "step_ms", "gpu_ms", "loss"])
            w.writerows(rows)
    print(f"{args.name}: {rate:.2f} it/s over {n} steps, GPU busy {busy:.2f}", flush=True)


def main(argv):
    args = parse_args(argv)
    if args.check_args:
        print("train.py: arguments ok:", " ".join(argv))
        return 0
    if args.mode == "check":
        run_check(args)
    else:
        run_job(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
