#!/usr/bin/env python3
"""Checks of the harness that need no GPU and no torch (selftest.sh runs it):
the shared helpers, the measurement window's start protocol, the scripts'
argument checks, and summarize.py on made-up results (every number in the
report is derived from them here too)."""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gv_common as gv  # noqa: E402
import infer  # noqa: E402
import memlimit  # noqa: E402
import summarize  # noqa: E402
import train  # noqa: E402


class FakeClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class CommonTest(unittest.TestCase):
    def test_parse_size(self):
        self.assertEqual(gv.parse_size("8GiB"), 8 << 30)
        self.assertEqual(gv.parse_size("512MiB"), 512 << 20)
        self.assertEqual(gv.parse_size("1.5GB"), 1_500_000_000)
        self.assertEqual(gv.parse_size("1073741824"), 1 << 30)
        self.assertEqual(gv.parse_size("2g"), 2 << 30)
        for bad in ("", "GiB", "8 parsecs", "-1GiB"):
            with self.assertRaises(ValueError):
                gv.parse_size(bad)

    def test_percentile_and_describe(self):
        values = list(range(1, 101))
        self.assertAlmostEqual(gv.percentile(values, 50), 50.5)
        self.assertAlmostEqual(gv.percentile(values, 99), 99.01)
        self.assertEqual(gv.percentile([7], 99), 7)
        d = gv.describe([3.0, 1.0, 2.0])
        self.assertEqual((d["n"], d["p50"], d["max"], d["min"]), (3, 2.0, 3.0, 1.0))
        self.assertEqual(gv.describe([]), {"n": 0})

    def test_rate_between_ignores_edges(self):
        ends = [10.0 + 0.1 * i for i in range(200)]  # 10 it/s from t=10 to t=29.9
        rate, n = gv.rate_between(ends, 12.05, 17.05)
        self.assertAlmostEqual(rate, 10.0, places=6)
        self.assertEqual(n, 50)
        self.assertEqual(gv.rate_between(ends, 100, 110), (0.0, 0))

    def test_window_standalone(self):
        clock = FakeClock()
        w = gv.Window(name="j", warmup_s=3, warmup_steps=5, duration_s=10, clock=clock)
        self.assertEqual(w.phase(10), w.WARMUP)  # steps done, time not yet
        clock.t += 3
        self.assertEqual(w.phase(4), w.WARMUP)  # time done, steps not yet
        self.assertEqual(w.phase(5), w.MEASURE)
        self.assertEqual((w.start, w.end), (1003.0, 1013.0))
        clock.t += 9.9
        self.assertEqual(w.phase(6), w.MEASURE)
        clock.t += 0.2
        self.assertEqual(w.phase(7), w.DONE)

    def test_window_waits_for_go(self):
        with tempfile.TemporaryDirectory() as d:
            clock = FakeClock()
            w = gv.Window(name="s.prod", warmup_s=1, warmup_steps=1, duration_s=99, sync_dir=d, go_timeout_s=30,
                          clock=clock)
            clock.t += 1
            self.assertEqual(w.phase(1), w.WARMUP)
            self.assertTrue(os.path.exists(os.path.join(d, "s.prod.ready")))
            clock.t += 5
            self.assertEqual(w.phase(2), w.WARMUP)  # no go yet: keeps warming up
            with open(os.path.join(d, "go"), "w") as f:
                f.write("1010.000 1025.000\n")
            clock.t += 1  # past the poll interval
            self.assertEqual(w.phase(3), w.WARMUP)  # t=1007 < start
            self.assertEqual((w.start, w.end), (1010.0, 1025.0))
            clock.t = 1010
            self.assertEqual(w.phase(4), w.MEASURE)
            clock.t = 1025
            self.assertEqual(w.phase(5), w.DONE)

    def test_window_times_out_without_go(self):
        with tempfile.TemporaryDirectory() as d:
            clock = FakeClock()
            w = gv.Window(name="x", warmup_s=0, warmup_steps=0, duration_s=1, sync_dir=d, go_timeout_s=5,
                          clock=clock)
            w.phase(0)
            clock.t += 6
            with self.assertRaises(TimeoutError):
                w.phase(1)


class ArgsTest(unittest.TestCase):
    def refused(self, parse, argv):
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as cm:
            parse(argv)
        return cm.exception.code != 0

    def test_train(self):
        a = train.parse_args(["--mode", "job", "--model", "resnet50", "--busy-target", "0.5", "--out", "x.json"])
        self.assertEqual((a.model, a.busy_target, a.data_ms), ("resnet50", 0.5, None))
        self.assertTrue(self.refused(train.parse_args, ["--mode", "job", "--out", "x"]))  # model 'both'
        self.assertTrue(self.refused(train.parse_args, ["--mode", "job", "--model", "resnet50", "--busy-target",
                                                        "2", "--out", "x"]))
        self.assertTrue(self.refused(train.parse_args, ["--mode", "check", "--out", "x", "--mem-cap", "lots"]))

    def test_infer(self):
        a = infer.parse_args(["--out", "x.json", "--period-ms", "12.5"])
        self.assertEqual((a.period_ms, a.mem_cap), (12.5, 8 << 30))
        self.assertTrue(self.refused(infer.parse_args, ["--out", "x", "--period-ms", "0"]))

    def test_memlimit(self):
        self.assertEqual(memlimit.parse_args(["--limit", "8GiB", "--out", "x"]).limit, 8 << 30)
        self.assertTrue(self.refused(memlimit.parse_args, ["--limit", "eight", "--out", "x"]))
        self.assertTrue(self.refused(memlimit.parse_args, ["--limit", "100GiB", "--out", "x"]))


def write(d, name, obj):
    with open(os.path.join(d, name), "w") as f:
        if isinstance(obj, str):
            f.write(obj)
        else:
            json.dump(obj, f)


def lat(p50, p99):
    return {"n": 1000, "mean": p50, "p50": p50, "p90": p50 * 1.2, "p99": p99, "max": p99 * 1.5, "min": p50 * 0.8}


# tgs-controller logs of phase um: the effective policy (--check-config, whose
# headroom line mentions unified memory too), the registration, status lines.
UM_LOG_HEAD = """/tmp/x/controller-um.yaml: OK (policy version 1, 2 rules)
  production_memory_headroom    0.05    (default)  fraction of GPU memory kept free of opportunistic unified memory
[tgs-controller 12:00:00.100 info] listening on /tmp/x/tgs.sock
"""
UM_STATUS = ("[tgs-controller 12:00:{s:02d}.000 info] GPU-0a1b: open; opportunistic limit unlimited blocks/s, using "
             "812k | gv-um-managed (um-managed) memory {m} of 8.00 GiB, unified {m}: {m} resident, 0 B on host "
             "(budget 126.45 GiB), gate unlimited blocks/s\n")


def um_controller_log(oversubscribed, statuses=()):
    reg = ("[tgs-controller 12:00:00.500 info] pid 4242 of gv-um-{} registered: class um-{} (opportunistic, rule 1), "
           "memory limit 8589934592 bytes, weight 1{}, 1 GPU(s)\n")
    kind = "managed" if oversubscribed else "device"
    return UM_LOG_HEAD + reg.format(kind, kind, ", oversubscribed" if oversubscribed else "") + "".join(
        UM_STATUS.format(s=i + 1, m=m) for i, m in enumerate(statuses))


def make_fixture(d, memlimit_ok=True, um_differs=False, um=True, um_registered=True):
    """A complete, made-up run: the numbers are chosen so each ratio is easy to check."""
    write(d, "env.json", {"python": "3.12.3", "torch": {"torch": "2.11.0+cu130", "torch_cuda": "13.0",
                                                        "device": "NVIDIA H200", "capability": "9.0",
                                                        "total_memory": 150754820096, "torchvision": "0.26.0"},
                          "nvml": {"driver": "580.159.04", "mig_mode": 0}})
    write(d, "pack-manifest.txt", "commit: 0123456789ab\n")
    checks = [{"name": "mem_get_info total == limit", "ok": True, "total": 8 << 30, "limit": 8 << 30},
              {"name": "holding half, half + 1 GiB more is refused (OutOfMemoryError)", "ok": memlimit_ok}]
    write(d, "memlimit.json", {"limit": 8 << 30, "allocator_backend": "native", "checks": checks,
                               "passed": memlimit_ok})
    write(d, "memlimit-expandable.json", {"limit": 8 << 30, "allocator_backend": "native", "checks": checks[:1],
                                          "passed": True})
    losses = [2.3 - 0.05 * i for i in range(30)]
    lm = [8.3 - 0.2 * i for i in range(30)]

    def model(batch, ls, ms):
        q = len(ls) // 4
        first, last = sum(ls[:q]) / q, sum(ls[-q:]) / q
        return {"batch": batch, "losses": ls, "finite": True, "decrease_ratio": last / first,
                "steady_step_ms_median": ms, "step_ms": [ms] * len(ls)}

    write(d, "train-plain.json", {"models": {"resnet50": model(32, losses, 20.0), "transformer": model(32, lm, 10.0)},
                                  "env": {}})
    write(d, "train-shim.json", {"models": {"resnet50": model(32, losses, 20.2), "transformer": model(32, lm, 10.1)},
                                 "env": {"TGS_MEMORY_LIMIT": "16GiB"}})
    if um:
        cap = {"cap_bytes": 8 << 30, "visible_total": 8 << 30, "fraction": 1.0}
        write(d, "train-um-device.json", {"models": {"resnet50": model(32, losses, 20.0),
                                                     "transformer": model(32, lm, 10.0)},
                                          "env": {"TGS_CONTAINER_ID": "gv-um-device"}, "memory_cap": cap})
        um_lm = [x + (0.05 if um_differs and i == 2 else 0.0) for i, x in enumerate(lm)]
        write(d, "train-um-managed.json", {"models": {"resnet50": model(32, losses, 26.0),
                                                      "transformer": model(32, um_lm, 11.0)},
                                           "env": {"TGS_CONTAINER_ID": "gv-um-managed"}, "memory_cap": cap})
        write(d, "train-um-device.controller.log", um_controller_log(False))
        write(d, "train-um-managed.controller.log",
              um_controller_log(um_registered, ("1.20 GiB", "3.10 GiB")) + "[tgs-controller 12:00:09.000 info] "
              "pid 4242 of gv-um-managed left\n")
    window = {"start": 1000.0, "end": 1015.0}
    write(d, "share-alone-prod.prod.json", {"iters_per_s": 25.0, "gpu_busy_fraction": 0.5, "data_ms": 20.0,
                                            "batch": 32, "window": window})
    write(d, "share-alone-prod.util.csv", "t,gpu_util_pct,mem_used_bytes\n999.0,0,1\n1001.0,60,1\n1002.0,40,1\n")
    write(d, "share-alone-opp.opp.json", {"iters_per_s": 40.0, "batch": 32, "window": window})
    write(d, "share-plain.prod.json", {"iters_per_s": 18.0})
    write(d, "share-plain.opp.json", {"iters_per_s": 25.0})
    write(d, "share-tgs.prod.json", {"iters_per_s": 24.5})
    write(d, "share-tgs.opp.json", {"iters_per_s": 16.0})
    write(d, "infer-alone.prod.json", {"latency_ms": lat(3.0, 4.0), "batch": 8, "period_ms": 12.0,
                                       "solo_service_ms": 3.0, "achieved_rate": 83.3, "offered_rate": 83.3})
    write(d, "infer-plain.prod.json", {"latency_ms": lat(6.0, 16.0), "achieved_rate": 83.3, "offered_rate": 83.3})
    write(d, "infer-plain.opp.json", {"iters_per_s": 20.0})
    write(d, "infer-tgs.prod.json", {"latency_ms": lat(3.1, 5.0), "achieved_rate": 83.3, "offered_rate": 83.3})
    write(d, "infer-tgs.opp.json", {"iters_per_s": 24.0})
    write(d, "launch-meta.json", {"burst": 256, "rounds": 2})
    for rnd in (1, 2):
        for mode, enq, rt in (("plain", 2000, 8.0), ("local", 2030, 8.2), ("prod", 2050, 8.5), ("opp", 2040, 8.3)):
            write(d, f"launch-{mode}-{rnd}.json", {"label": f"{mode}-{rnd}", "correct": True,
                                                   "enqueue_ns": {"p50": enq + rnd}, "roundtrip_us": {"p50": rt}})
    steps = ["env-nvidia-smi", "memlimit", "memlimit-expandable", "train-plain", "train-shim"]
    steps += ["train-um-device", "train-um-managed"] if um else []
    steps += ["share-alone-prod",
             "share-alone-opp", "share-plain", "share-tgs", "infer-alone", "infer-plain", "infer-tgs", "launch"]
    write(d, "steps.tsv", "".join(f"{s}\tok\t0\t10\t\n" for s in steps))


class SummarizeTest(unittest.TestCase):
    def run_summary(self, **fixture):
        with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as out:
            make_fixture(d, **fixture)
            self.assertEqual(summarize.main([d, out]), 0)
            with open(os.path.join(out, "results.md")) as f:
                md = f.read()
            with open(os.path.join(out, "summary.json")) as f:
                return md, json.load(f)

    def test_numbers(self):
        md, s = self.run_summary()
        sh = s["sharing"]
        self.assertAlmostEqual(sh["idle_capacity"], 20.0)  # 40 it/s x (1 - 0.5)
        self.assertAlmostEqual(sh["tgs"]["prod_of_r0"], 0.98)
        self.assertAlmostEqual(sh["tgs"]["opp_of_idle"], 0.8)
        self.assertAlmostEqual(sh["plain"]["prod_of_r0"], 0.72)
        self.assertAlmostEqual(sh["nvml_util"], 0.5)  # samples at 1001 and 1002 only
        self.assertTrue(s["verdicts"]["sharing_production_target"])
        self.assertTrue(s["verdicts"]["sharing_opportunistic_target"])
        self.assertTrue(s["correctness_passed"])
        self.assertAlmostEqual(s["launch"]["local"]["added_ns"], 30.0)
        self.assertAlmostEqual(s["inference"]["infer-plain"]["p99"], 16.0)
        self.assertIn("| both, **TGS** | 24.50 | 0.980 | 16.00 | 0.800 |", md)
        self.assertIn("NVIDIA H200", md)
        self.assertIn("| alone, no TGS | 3.00 |", md)
        self.assertIn("| + opportunistic, no TGS | 6.00 | 7.20 | 16.00 | 24.00 | 4.00 |", md)
        self.assertNotIn("alone, under TGS", md)  # optional scenario absent from steps: no row
        self.assertIn("**met** (0.980)", md)
        self.assertIn("+30", md)
        self.assertIn("> Real GPU (NVIDIA H200, driver 580.159.04, PyTorch 2.11.0+cu130)", md)
        # Unified memory: managed 26 / device 20 ms (ResNet-50), 11 / 10 ms (Transformer).
        um = s["unified_memory"]
        self.assertTrue(s["verdicts"]["unified_memory"])
        self.assertAlmostEqual(um["models"]["resnet50"]["overhead"], 1.3)
        self.assertAlmostEqual(um["models"]["transformer"]["overhead"], 1.1)
        self.assertEqual(um["models"]["transformer"]["max_rel_diff_vs_device"], 0.0)
        self.assertEqual(um["models"]["transformer"]["max_rel_diff_vs_plain"], 0.0)
        self.assertEqual(um["limit_bytes"], 8 << 30)
        self.assertTrue(um["managed_registered_oversubscribed"])
        self.assertFalse(um["device_registered_oversubscribed"])
        self.assertIn("## 6. Unified memory (oversubscribing policy)", md)
        self.assertIn("| resnet50 | 32 | 2.300 → 0.850 | 2.300 → 0.850 | 0.0e+00 (ok) / 0.0e+00 | "
                      "0.0e+00 (ok) / 0.0e+00 | yes | 20.00 / 26.00 | 1.300 |", md)
        # The last status line, the container's part only; not the policy's headroom line.
        self.assertEqual(um["controller_status"], "gv-um-managed (um-managed) memory 3.10 GiB of 8.00 GiB, unified "
                         "3.10 GiB: 3.10 GiB resident, 0 B on host (budget 126.45 GiB), gate unlimited blocks/s")
        self.assertIn("status of the unified run: `gv-um-managed (um-managed) memory 3.10 GiB", md)
        self.assertNotIn("not register", md)
        self.assertIn("1.30× (ResNet-50) and 1.10× (Transformer)", md)
        self.assertIn("with unified memory: same losses as with device memory.", md)

    def test_failed_check_fails_correctness(self):
        md, s = self.run_summary(memlimit_ok=False)
        self.assertFalse(s["verdicts"]["memory_limit"])
        self.assertFalse(s["correctness_passed"])
        self.assertIn("**FAIL**", md)

    def test_unified_memory_losses_differ(self):
        md, s = self.run_summary(um_differs=True)
        self.assertFalse(s["verdicts"]["unified_memory"])
        self.assertTrue(s["verdicts"]["training"])
        self.assertFalse(s["correctness_passed"])  # a real bug: the same kernels on other memory
        self.assertIn("(**differs**)", md)
        self.assertIn("with unified memory: FAIL.", md)

    def test_unified_memory_not_registered_oversubscribed(self):
        md, s = self.run_summary(um_registered=False)
        self.assertTrue(s["verdicts"]["unified_memory"])  # losses agree; the report says what is wrong
        self.assertFalse(s["unified_memory"]["managed_registered_oversubscribed"])
        self.assertIn("did not register as oversubscribed", md)

    def test_unified_memory_not_run(self):
        md, s = self.run_summary(um=False)
        self.assertIsNone(s["verdicts"]["unified_memory"])
        self.assertTrue(s["correctness_passed"])  # skipped (budget) is not a failure
        self.assertIn("No result (train-um-device: not run).", md)

    def test_unified_memory_half_run(self):
        with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as out:
            make_fixture(d)
            os.remove(os.path.join(d, "train-um-managed.json"))
            with open(os.path.join(d, "steps.tsv"), "a") as f:
                f.write("train-um-managed\ttimeout\t124\t240\t\n")
            self.assertEqual(summarize.main([d, out]), 0)
            with open(os.path.join(out, "summary.json")) as f:
                s = json.load(f)
            with open(os.path.join(out, "results.md")) as f:
                md = f.read()
        self.assertFalse(s["verdicts"]["unified_memory"])
        self.assertIn("No result (train-um-managed: timeout (rc 124))", md)

    def test_empty_run(self):
        with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as out:
            self.assertEqual(summarize.main([d, out]), 0)
            with open(os.path.join(out, "summary.json")) as f:
                s = json.load(f)
            self.assertIsNone(s["verdicts"]["memory_limit"])
            self.assertIsNone(s["verdicts"]["unified_memory"])
            self.assertFalse(s["correctness_passed"])


if __name__ == "__main__":
    unittest.main(verbosity=1)
