#!/usr/bin/env python3
"""Turns the per-test files of a run into results.md and summary.json.

run.sh calls it after every phase (so a run cut short still leaves a report)
and at exit. It needs no GPU and no torch: it reads the JSON/CSV files in
DETAILS and writes the report to OUT. A file that is missing (a phase skipped
or failed) shows as "–" with the step's status from steps.tsv.

  summarize.py DETAILS_DIR OUT_DIR
"""

import csv
import datetime
import json
import math
import os
import re
import sys

# Targets from the controller issue (README, Performance): production keeps
# >= 97% of its solo rate; opportunistic work gets >= 70% of the idle capacity.
PROD_TARGET = 0.97
OPP_TARGET = 0.70
# Losses with and without the shim are compared over the first steps, before
# the few non-deterministic kernels (e.g. adaptive pooling's backward) can
# make the runs drift apart; relative tolerance.
COMPARE_STEPS = 5
LOSS_RTOL = 1e-3
# tgs-controller's per-GPU status line, for an oversubscribing container:
# "..., unified 3.1 GiB: 3.1 GiB resident, 0 B on host (budget 126 GiB), 2 GiB moved".
UNIFIED_STATUS = re.compile(r", unified [^|,]*: [^|,]* resident")


def load(details, name):
    path = os.path.join(details, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def steps_table(details):
    rows = []
    try:
        with open(os.path.join(details, "steps.tsv")) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4:
                    rows.append(parts + [""] * (5 - len(parts)))
    except OSError:
        pass
    return rows


def num(value, fmt="{:.2f}"):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value)


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def met_text(ok):
    return "not measured" if ok is None else ("met" if ok else "not met")


def pass_text(ok, good):
    return "not measured" if ok is None else (good if ok else "FAIL")


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def max_rel_diff(a, b, n=None):
    """Largest |a - b| / max(1, |a|) over the first n steps (all when None); NaN when there is none."""
    pairs = list(zip(a, b))[:n]
    return max((abs(x - y) / max(1.0, abs(x)) for x, y in pairs), default=float("nan"))


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


class Report:
    def __init__(self, details):
        self.details = details
        self.lines = []
        self.summary = {"verdicts": {}}
        self.steps = {r[0]: r for r in steps_table(details)}

    def status(self, *names):
        """'ok' or the first step status that is not, for a section's note."""
        for n in names:
            r = self.steps.get(n)
            if r is None:
                return f"{n}: not run"
            if r[1] != "ok":
                return f"{n}: {r[1]} (rc {r[2]}) {r[4]}".rstrip()
        return "ok"

    def verdict(self, key, ok):
        self.summary["verdicts"][key] = ok

    def add(self, *lines):
        self.lines.extend(lines)

    # --- sections -----------------------------------------------------------

    def header(self):
        env = load(self.details, "env.json") or {}
        torch = env.get("torch", {})
        nvml = env.get("nvml", {})
        gpu = torch.get("device") or nvml.get("name") or "unknown GPU"
        total = torch.get("total_memory") or nvml.get("memory_total")
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        pack = self.read_text("pack-manifest.txt")
        commit = next((ln.split(":", 1)[1].strip() for ln in pack.splitlines() if ln.startswith("commit:")), "unknown")
        self.summary.update(date=date, gpu=gpu, driver=nvml.get("driver"), torch=torch.get("torch"),
                            torch_cuda=torch.get("torch_cuda"), commit=commit)
        self.add("# TGS on a real GPU: validation results", "")
        if os.path.exists(os.path.join(self.details, "fake-gpu.txt")):
            self.add("**FAKE GPU RUN (run.sh --fake-gpu, a self-test): every number below is a sleep, "
                     "not a measurement.**", "")
            self.summary["fake_gpu"] = True
        self.add(
                 f"- Date (UTC): {date}",
                 f"- GPU: {gpu}, {num(total and total / 2**30, '{:.0f}')} GiB, driver {nvml.get('driver', '?')}, "
                 f"compute capability {torch.get('capability', '?')}, MIG mode {nvml.get('mig_mode', '?')}",
                 f"- PyTorch {torch.get('torch', '?')} (CUDA {torch.get('torch_cuda', '?')}), "
                 f"torchvision {torch.get('torchvision', '?')}, Python {env.get('python', '?')}",
                 f"- TGS build: {commit}", "")

    def memlimit(self):
        self.add("## 1. Memory limit under the shim (no controller)", "")
        all_ok, seen = True, False
        for name, title in (("memlimit", "PyTorch default allocator"),
                            ("memlimit-expandable", "PyTorch expandable segments (cuMemCreate/cuMemMap)")):
            r = load(self.details, f"{name}.json")
            if r is None:
                self.add(f"*{title}*: no result ({self.status(name)}).", "")
                all_ok = False
                continue
            seen = True
            lim = r.get("limit", 0)
            exp = r.get("expandable_segments_in_use")
            exp_text = {True: "yes", False: "no", None: "unknown"}.get(exp, "unknown")
            self.add(f"*{title}*, TGS_MEMORY_LIMIT = {lim / 2**30:.0f} GiB, allocator backend "
                     f"`{r.get('allocator_backend', '?')}`, expandable segments in use: {exp_text}:", "")
            rows = []
            for c in r.get("checks", []):
                detail = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("name", "ok"))
                rows.append(("PASS" if c["ok"] else "**FAIL**", c["name"], detail[:160]))
            self.add(*md_table(["", "check", "values"], rows), "")
            all_ok = all_ok and bool(r.get("passed"))
        self.verdict("memory_limit", all_ok if seen else None)

    def training(self):
        self.add("## 2. Unmodified training under the shim", "")
        plain, shim = load(self.details, "train-plain.json"), load(self.details, "train-shim.json")
        if plain is None or shim is None:
            self.add(f"No result ({self.status('train-plain', 'train-shim')}).", "")
            self.verdict("training", None if plain is None and shim is None else False)
            return
        rows, ok = [], True
        for model in ("resnet50", "transformer"):
            p, s = get(plain, "models", model), get(shim, "models", model)
            if p is None or s is None:
                rows.append((model,) + ("–",) * 8)
                ok = False
                continue
            rel = max_rel_diff(p["losses"], s["losses"], COMPARE_STEPS)
            rel_all = max_rel_diff(p["losses"], s["losses"])
            same = rel <= LOSS_RTOL
            falls = p["decrease_ratio"] < 0.95 and s["decrease_ratio"] < 0.95
            ok = ok and same and falls and p["finite"] and s["finite"]
            rows.append((model, p["batch"],
                         f"{p['losses'][0]:.3f} → {p['losses'][-1]:.3f}",
                         f"{s['losses'][0]:.3f} → {s['losses'][-1]:.3f}",
                         f"{rel:.1e} ({'ok' if same else '**differs**'}) / {rel_all:.1e}",
                         "yes" if s["finite"] and p["finite"] else "**no**",
                         "yes" if falls else "**no**",
                         f"{p['steady_step_ms_median']:.2f} / {s['steady_step_ms_median']:.2f}",
                         num(ratio(p["steady_step_ms_median"], s["steady_step_ms_median"]), "{:.3f}")))
        self.add(*md_table(["model", "batch", "loss, no shim", "loss, shim",
                            f"max rel. loss diff, first {COMPARE_STEPS} / all steps", "finite",
                            "falls (last¼ < 0.95·first¼)", "median step ms, no shim / shim",
                            "speed with shim (×)"], rows), "")
        lim = get(shim, "env", "TGS_MEMORY_LIMIT")
        self.add(f"Both runs deterministic (cuDNN deterministic, CUBLAS_WORKSPACE_CONFIG), same seeds; the shim "
                 f"run with TGS_MEMORY_LIMIT={lim}. bf16 autocast, synthetic learnable data.", "")
        self.verdict("training", ok)

    def sharing(self):
        self.add("## 3. Production + opportunistic training on one GPU", "")
        prod0 = load(self.details, "share-alone-prod.prod.json")
        opp0 = load(self.details, "share-alone-opp.opp.json")
        r0 = get(prod0, "iters_per_s")
        busy = get(prod0, "gpu_busy_fraction")
        util = self.mean_util("share-alone-prod.util.csv", get(prod0, "window"))
        o0 = get(opp0, "iters_per_s")
        idle_cap = o0 * (1 - busy) if o0 is not None and busy is not None else None
        window_s = None
        if get(prod0, "window", "end") is not None:
            window_s = get(prod0, "window", "end") - get(prod0, "window", "start")
        rows = [("production alone (R0)", num(r0), "1.000", "–", "–"),
                ("opportunistic alone", "–", "–", num(o0), "–")]
        results = {}
        for key, title in (("share-plain", "both, no TGS"), ("share-tgs", "both, **TGS**")):
            p, o = load(self.details, f"{key}.prod.json"), load(self.details, f"{key}.opp.json")
            pr, orate = get(p, "iters_per_s"), get(o, "iters_per_s")
            results[key] = (ratio(pr, r0), ratio(orate, idle_cap))
            rows.append((title, num(pr), num(ratio(pr, r0), "{:.3f}"), num(orate),
                         num(ratio(orate, idle_cap), "{:.3f}")))
        self.add(*md_table(["Scenario", "Production it/s", "of R0", "Opportunistic it/s", "of idle capacity"],
                           rows), "")
        self.add(f"Production: ResNet-50 (batch {get(prod0, 'batch') or '?'}, bf16) with a host-side "
                 f"\"data loading\" sleep of {num(get(prod0, 'data_ms'), '{:.1f}')} ms per step; busy "
                 f"{num(busy, '{:.2f}')} of the time alone by CUDA events (NVML utilisation "
                 f"{num(util, '{:.2f}')}). Opportunistic: a 6-layer Transformer (batch "
                 f"{get(opp0, 'batch') or '?'}, bf16), back to back. Idle capacity = opportunistic alone × "
                 f"(1 − production's busy fraction) = {num(idle_cap)} it/s. Each scenario measures the same "
                 f"wall-clock window in every job ({num(window_s, '{:.0f}')} s) "
                 "after its warm-up.", "")
        tp, to = results.get("share-tgs", (None, None))
        notes = [self.status(s) for s in ("share-alone-prod", "share-alone-opp", "share-plain", "share-tgs")]
        bad = [n for n in notes if n != "ok"]
        if bad:
            self.add("Steps not ok: " + "; ".join(bad), "")
        met_p = None if tp is None else tp >= PROD_TARGET
        met_o = None if to is None else to >= OPP_TARGET
        self.add(f"Targets: production ≥ {PROD_TARGET} of R0 under TGS: **{met_text(met_p)}** "
                 f"({num(tp, '{:.3f}')}); opportunistic ≥ {OPP_TARGET} of idle capacity: "
                 f"**{met_text(met_o)}** ({num(to, '{:.3f}')}).", "")
        self.summary["sharing"] = {"r0": r0, "busy": busy, "nvml_util": util, "opp_alone": o0,
                                   "idle_capacity": idle_cap,
                                   "plain": dict(zip(("prod_of_r0", "opp_of_idle"), results.get("share-plain", ()))),
                                   "tgs": dict(zip(("prod_of_r0", "opp_of_idle"), results.get("share-tgs", ())))}
        self.verdict("sharing_production_target", met_p)
        self.verdict("sharing_opportunistic_target", met_o)

    def inference(self):
        self.add("## 4. Production inference latency beside opportunistic training", "")
        opp0 = get(load(self.details, "share-alone-opp.opp.json"), "iters_per_s")
        rows, alone_p99 = [], None
        data = {}
        for key, title in (("infer-alone", "alone, no TGS"), ("infer-tgs-alone", "alone, under TGS"),
                           ("infer-plain", "+ opportunistic, no TGS"), ("infer-tgs", "+ opportunistic, **TGS**")):
            p, o = load(self.details, f"{key}.prod.json"), load(self.details, f"{key}.opp.json")
            if p is None and key == "infer-tgs-alone" and key not in self.steps:
                continue  # optional scenario, not run
            lat = get(p, "latency_ms") or {}
            if key == "infer-alone":
                alone_p99 = lat.get("p99")
            orate = get(o, "iters_per_s")
            data[key] = {"p50": lat.get("p50"), "p99": lat.get("p99"), "opp_it_s": orate}
            rows.append((title, num(lat.get("p50")), num(lat.get("p90")), num(lat.get("p99")), num(lat.get("max")),
                         num(ratio(lat.get("p99"), alone_p99), "{:.2f}"),
                         f"{num(get(p, 'achieved_rate'), '{:.1f}')} / {num(get(p, 'offered_rate'), '{:.1f}')}",
                         num(orate) if o is not None else "–",
                         num(ratio(orate, opp0), "{:.2f}") if o is not None else "–"))
        self.add(*md_table(["Scenario", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99 vs alone",
                            "req/s achieved / offered", "opp. it/s", "opp. of its solo"], rows), "")
        alone = load(self.details, "infer-alone.prod.json")
        self.add(f"ResNet-50 inference, batch {get(alone, 'batch') or '?'}, bf16, one request every "
                 f"{num(get(alone, 'period_ms'))} ms (service {num(get(alone, 'solo_service_ms'))} ms alone), "
                 "open-loop: latency counted from when a request was due, torch.cuda.synchronize() per request.",
                 "")
        bad = [self.status(s) for s in ("infer-alone", "infer-plain", "infer-tgs")]
        bad = [b for b in bad if b != "ok"]
        if bad:
            self.add("Steps not ok: " + "; ".join(bad), "")
        self.summary["inference"] = data

    def launch(self):
        self.add("## 5. Per-launch overhead of the shim", "")
        runs = []
        for name in sorted(os.listdir(self.details)):
            if name.startswith("launch-") and name.endswith(".json") and name != "launch-meta.json":
                r = load(self.details, name)
                if r and r.get("label"):
                    r["mode"] = r["label"].split("-")[0]
                    runs.append(r)
        meta = load(self.details, "launch-meta.json") or {}
        if not runs:
            self.add(f"No result ({self.status('launch')}).", "")
            return
        by_mode = {}
        for run in runs:
            by_mode.setdefault(run["mode"], []).append(run)
        base = by_mode.get("plain", [])

        def med(runs, *keys):
            vals = sorted(v for v in (get(x, *keys) for x in runs) if v is not None)
            return vals[len(vals) // 2] if vals else None

        b_enq, b_rt = med(base, "enqueue_ns", "p50"), med(base, "roundtrip_us", "p50")
        rows, data = [], {}
        titles = {"plain": "no shim", "local": "shim, local accounting",
                  "prod": "shim, production under tgs-controller",
                  "opp": "shim, opportunistic under tgs-controller (no production present)"}
        for mode in ("plain", "local", "prod", "opp"):
            runs = by_mode.get(mode)
            if not runs:
                continue
            enq, rt = med(runs, "enqueue_ns", "p50"), med(runs, "roundtrip_us", "p50")
            added = enq - b_enq if enq is not None and b_enq is not None else None
            added_rt = rt - b_rt if rt is not None and b_rt is not None else None
            data[mode] = {"enqueue_ns": enq, "added_ns": added, "roundtrip_us": rt, "added_roundtrip_us": added_rt}
            rows.append((titles[mode], num(enq, "{:.0f}"), "–" if mode == "plain" else num(added, "{:+.0f}"),
                         num(rt), "–" if mode == "plain" else num(added_rt, "{:+.2f}"),
                         " ".join(f"{get(x, 'enqueue_ns', 'p50'):.0f}" for x in runs),
                         "yes" if all(x.get("correct") for x in runs) else "**no**"))
        self.add(*md_table(["Mode", "launch ns (median)", "added ns", "launch+sync µs", "added µs",
                            "launch ns per round", "results correct"], rows), "")
        impl = "PyTorch x.add_(1) (no nvcc)" if any(x.get("impl") == "torch" for x in runs) else "CUDA C++ (nvcc)"
        self.add(f"Implementation: {impl}. Enqueue: host time per launch in bursts of {meta.get('burst', '?')} "
                 "tiny kernels (never waiting for the GPU); launch+sync: one kernel then "
                 "cudaStreamSynchronize. Medians over repetitions; each mode run "
                 f"{meta.get('rounds', '?')} times, interleaved.", "")
        self.summary["launch"] = data

    def unified_memory(self):
        self.add("## 6. Unified memory (oversubscribing policy)", "")
        dev, man = load(self.details, "train-um-device.json"), load(self.details, "train-um-managed.json")
        plain = load(self.details, "train-plain.json")
        if dev is None or man is None:
            self.add(f"No result ({self.status('train-um-device', 'train-um-managed')}).", "")
            self.verdict("unified_memory", None if dev is None and man is None else False)
            return
        rows, ok, data = [], True, {}

        def diff(a, b):
            """'first-N / all' text and whether the first N agree."""
            rel, rel_all = max_rel_diff(a, b, COMPARE_STEPS), max_rel_diff(a, b)
            same = rel <= LOSS_RTOL
            return f"{rel:.1e} ({'ok' if same else '**differs**'}) / {rel_all:.1e}", same, rel

        for model in ("resnet50", "transformer"):
            d, m, p = get(dev, "models", model), get(man, "models", model), get(plain, "models", model)
            if d is None or m is None:
                rows.append((model,) + ("–",) * 8)
                ok = False
                continue
            dm_text, dm_same, dm_rel = diff(d["losses"], m["losses"])
            mp_text, mp_same, mp_rel = diff(p["losses"], m["losses"]) if p is not None else ("–", True, None)
            finite = bool(d["finite"] and m["finite"])
            ok = ok and dm_same and mp_same and finite
            dev_ms, man_ms = d.get("steady_step_ms_median"), m.get("steady_step_ms_median")
            overhead = ratio(man_ms, dev_ms)
            data[model] = {"device_step_ms": dev_ms, "managed_step_ms": man_ms, "overhead": overhead,
                           "max_rel_diff_vs_device": dm_rel, "max_rel_diff_vs_plain": mp_rel, "finite": finite}
            rows.append((model, m["batch"],
                         f"{d['losses'][0]:.3f} → {d['losses'][-1]:.3f}",
                         f"{m['losses'][0]:.3f} → {m['losses'][-1]:.3f}",
                         dm_text, mp_text,
                         "yes" if finite else "**no**",
                         f"{num(dev_ms)} / {num(man_ms)}",
                         num(overhead, "{:.3f}")))
        self.add(*md_table(["model", "batch", "loss, device memory", "loss, unified memory",
                            f"max rel. loss diff unified vs device, first {COMPARE_STEPS} / all steps",
                            "unified vs no shim (train-plain)", "finite", "median step ms, device / unified",
                            "unified overhead (×)"], rows), "")
        cap = get(man, "memory_cap") or {}
        bound, seen = cap.get("cap_bytes"), cap.get("visible_total")
        self.add("The same deterministic training as section 2 (same seeds, cuDNN deterministic, "
                 "CUBLAS_WORKSPACE_CONFIG), twice under tgs-controller as an opportunistic container: once in a "
                 "class with `oversubscribe: false` (plain device memory), once with `oversubscribe: true` (the "
                 "shim turns PyTorch's `cuMemAlloc` into `cuMemAllocManaged`). Both classes have the same hard "
                 f"memory limit, {num(bound and bound / 2**30, '{:.2f}')} GiB (PyTorch saw "
                 f"{num(seen and seen / 2**30, '{:.2f}')} GiB total), which also caps PyTorch's allocator. No "
                 "production container runs, so the controller's resident budget should hold the whole job on "
                 "the GPU (the status line below says how much was on the host): the overhead is that of unified "
                 "memory itself (first-touch faults, the shim's advice and placement), not of reading memory over "
                 "the bus. Overhead = unified / device median step time (reported, not judged).", "")
        status, managed_reg = self.controller_facts("train-um-managed")
        _, device_reg = self.controller_facts("train-um-device")
        if status:
            self.add(f"Controller, last unified-memory status of the unified run: `{status}`", "")
        else:
            self.add("Controller: no unified-memory status line in train-um-managed.controller.log.", "")
        if managed_reg is False:
            self.add("**The unified run's container did not register as oversubscribed** "
                     "(train-um-managed.controller.log): it may not have used unified memory.", "")
        if device_reg is True:
            self.add("**The device-memory run's container registered as oversubscribed** "
                     "(train-um-device.controller.log): both runs may have used unified memory.", "")
        bad = [self.status(s) for s in ("train-um-device", "train-um-managed")]
        bad = [b for b in bad if b != "ok"]
        if bad:
            self.add("Steps not ok: " + "; ".join(bad), "")
        self.summary["unified_memory"] = {"models": data, "limit_bytes": bound, "controller_status": status,
                                          "managed_registered_oversubscribed": managed_reg,
                                          "device_registered_oversubscribed": device_reg}
        self.verdict("unified_memory", ok)

    def controller_facts(self, name):
        """From NAME.controller.log: the container's part of the last status line with unified
        memory in it (None if there is none), and whether the container registered as
        oversubscribed (None when the log has no registration line)."""
        status, registered = None, None
        for line in self.read_text(f"{name}.controller.log").splitlines():
            if UNIFIED_STATUS.search(line):
                status = next((part.strip() for part in line.split(" | ") if UNIFIED_STATUS.search(part)),
                              line.strip())
            elif " registered: " in line:
                registered = bool(registered) or "oversubscribed" in line
        return status, registered

    def steps_section(self):
        self.add("## Steps", "")
        rows = [(r[0], r[1] if r[1] == "ok" else f"**{r[1]}**", r[2], r[3], r[4]) for r in steps_table(self.details)]
        self.add(*md_table(["step", "status", "rc", "seconds", "note"], rows), "")

    def readme_snippet(self):
        s = self.summary
        sh = s.get("sharing", {})
        lines = [f"Real GPU ({s.get('gpu')}, driver {s.get('driver')}, PyTorch {s.get('torch')}), "
                 f"{s.get('date')}, `tools/gpu-validate/run.sh`:"]
        if sh:
            lines.append(f"production ResNet-50 training keeps {num(get(sh, 'tgs', 'prod_of_r0'), '{:.3f}')} of its "
                         f"solo rate under TGS ({num(get(sh, 'plain', 'prod_of_r0'), '{:.3f}')} without), the "
                         f"opportunistic Transformer gets {num(get(sh, 'tgs', 'opp_of_idle'), '{:.3f}')} of the idle "
                         "capacity;")
        inf = s.get("inference", {})
        if inf:
            lines.append(f"inference p99 {num(get(inf, 'infer-alone', 'p99'))} ms alone, "
                         f"{num(get(inf, 'infer-plain', 'p99'))} ms beside training without TGS, "
                         f"{num(get(inf, 'infer-tgs', 'p99'))} ms with TGS;")
        um = get(s, "unified_memory", "models")
        if um:
            lines.append(f"with unified memory (an oversubscribing policy, the GPU otherwise idle) a training step "
                         f"takes {num(get(um, 'resnet50', 'overhead'), '{:.2f}')}× (ResNet-50) and "
                         f"{num(get(um, 'transformer', 'overhead'), '{:.2f}')}× (Transformer) as long as with "
                         "device memory;")
        la = s.get("launch", {})
        if la:
            lines.append(f"the shim adds {num(get(la, 'local', 'added_ns'), '{:+.0f}')} ns per launch "
                         f"({num(get(la, 'prod', 'added_ns'), '{:+.0f}')} ns as production under the controller).")
        v = s["verdicts"]
        lines.append(f"Memory limit checks: {pass_text(v.get('memory_limit'), 'all pass')}; training under the "
                     f"shim: {pass_text(v.get('training'), 'same losses as without')}; with unified memory: "
                     f"{pass_text(v.get('unified_memory'), 'same losses as with device memory')}.")
        self.add("## For the project README", "", "Paste under README → Performance (edit as needed):", "",
                 "> " + "\n> ".join(lines), "")

    def mean_util(self, name, window):
        if not window:
            return None
        vals = []
        try:
            with open(os.path.join(self.details, name)) as f:
                for row in csv.DictReader(f):
                    if window["start"] <= float(row["t"]) < window["end"]:
                        vals.append(float(row["gpu_util_pct"]) / 100)
        except (OSError, KeyError, ValueError, TypeError):
            return None
        return sum(vals) / len(vals) if vals else None

    def read_text(self, name):
        try:
            with open(os.path.join(self.details, name)) as f:
                return f.read()
        except OSError:
            return ""


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 64
    details, out = argv
    rep = Report(details)
    rep.header()
    rep.memlimit()
    rep.training()
    rep.sharing()
    rep.inference()
    rep.launch()
    rep.unified_memory()
    rep.readme_snippet()
    rep.steps_section()
    # None (not measured) is not a pass: run.sh only asks when both phases ran.
    # Unified memory counts when measured (run.sh skips it when the budget is short).
    v = rep.summary["verdicts"]
    correct = v.get("memory_limit") is True and v.get("training") is True and v.get("unified_memory") is not False
    rep.summary["correctness_passed"] = correct
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, ".results.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(rep.lines) + "\n")
    os.replace(tmp, os.path.join(out, "results.md"))
    with open(os.path.join(out, "summary.json.tmp"), "w") as f:
        json.dump(rep.summary, f, indent=1, sort_keys=True)
    os.replace(os.path.join(out, "summary.json.tmp"), os.path.join(out, "summary.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
