#!/usr/bin/env bash
# The README's demo command: a production and an opportunistic training job
# share one simulated GPU, first under tgs-controller, then without TGS.
#
# From any directory, on a fresh Debian 12 machine: installs the build
# dependencies, builds build/, then
#   [1/4] runs the production job alone for a few seconds: its solo rate R0;
#   [2/4] starts tgs-controller and both jobs with the shim preloaded, and
#         prints every second each job's throughput, the opportunistic launch
#         limit the controller set, the control phase and each container's
#         GPU memory; halfway through, a second process of the opportunistic
#         container asks for more memory than its limit and is refused;
#   [3/4] runs the same two jobs without TGS (no shim, no controller);
#   [4/4] prints both side by side.
# Exits non-zero if anything did not behave as described.
#
# Knobs: TGS_DEMO_SECONDS (length of [2/4] and [3/4], default 12),
# TGS_DEMO_SKIP_SETUP=1 (use an existing build), TGS_DEMO_BUILD_DIR, TGS_JOBS.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${TGS_DEMO_BUILD_DIR:-$repo/build}"
jobs="${TGS_JOBS:-$(nproc)}"
seconds="${TGS_DEMO_SECONDS:-12}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 3 || seconds > 3600)); then
  echo "demo: TGS_DEMO_SECONDS must be a whole number of seconds from 3 to 3600, not '$seconds'" >&2
  exit 64
fi

if [[ -t 1 ]]; then
  bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
  bold() { printf '\n%s\n' "$*"; }
fi
say() { printf '    %s\n' "$*"; }

if [[ "${TGS_DEMO_SKIP_SETUP:-0}" != 1 ]]; then
  bold "[setup] dependencies and build ($build)"
  "$repo/tools/setup/install-deps.sh"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$jobs" --target tgs_shim simgpu_cuda simgpu_nvml tgs-controller tgs-train-sim \
    tgs-test-client-linked tgsctl >/dev/null
  echo "build: ok"
fi

libdir="$build/lib/tgs"
simdir="$build/lib/tgs/simgpu"
bindir="$build/bin"
for f in "$libdir/libtgs.so" "$simdir/libcuda.so.1" "$bindir/tgs-controller" "$bindir/tgs-train-sim" \
  "$bindir/tgs-test-client-linked" "$bindir/tgsctl"; do
  [[ -e "$f" ]] || { echo "demo: $f is missing (build first, or unset TGS_DEMO_SKIP_SETUP)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/tgs-demo.XXXXXX)"
shm="tgs-demo-$$"
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -f "/dev/shm/$shm"
  rm -rf "$work"
}
trap cleanup EXIT

# The two jobs. Production: 6 kernels of 2 ms, then 8 ms on the host (data
# loading), so it keeps the GPU busy about 60% of the time. Opportunistic:
# 8 kernels of 1 ms back to back; it would take the whole GPU.
prod_args=(--kernels 6 --kernel-us 2000 --cpu-gap-us 8000 --mem 3GiB --report-interval 0.5)
opp_args=(--kernels 8 --kernel-us 1000 --mem 1GiB --report-interval 0.5)

cat >"$work/config.yaml" <<'EOF'
version: 1
defaults:
  class: opportunistic
  memory_limit: 2GiB
containers:
  - match: { id: train-prod }
    class: production
    memory_limit: 8GiB
EOF

# Runs a command as a process of container $1 on the simulated 16 GiB GPU;
# $2 = tgs (shim preloaded, registered with the demo's controller) or plain.
in_container() {
  local id="$1" mode="$2"; shift 2
  local preload=()
  [[ "$mode" == tgs ]] && preload=(LD_PRELOAD="$libdir/libtgs.so")
  env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$simdir" "${preload[@]}" \
    TGS_SIM_SHM="$shm" TGS_SIM_MEMORY=16GiB \
    TGS_STATE_DIR="$work/local-state" TGS_CONTROLLER_SOCKET="$work/tgs.sock" \
    TGS_CONTAINER_ID="$id" "$@"
}
mkdir -p "$work/local-state"

# (Each helper succeeds on no match: under pipefail a grep finding nothing yet would end the demo.)
last_rate() { { grep 'iters/s=' "$1" 2>/dev/null || true; } | tail -n1 | sed -n 's/^iters\/s=\([0-9.]*\).*/\1/p'; }
# Mean of the progress lines after the first 2 s (warm-up, the controller's
# first measurement of production).
steady_rate() { { grep 'iters/s=' "$1" || true; } | tail -n +5 | sed 's/^iters\/s=\([0-9.]*\).*/\1/' |
  awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "0" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
# Fields of the controller's latest report line (see controller/README.md).
report() { { grep 'GPU-' "$work/controller.log" 2>/dev/null || true; } | tail -n1; }
phase_of() { sed -n 's/.*GPU-[0-9a-f-]*: \([a-z-]*\);.*/\1/p'; }
gate_of() { sed -n 's/.*id:train-opp ([a-z]*) memory .*, gate \([^ ]*\) blocks\/s.*/\1/p'; }
memory_of() { sed -n "s/.*id:$1 ([a-z]*) memory \([0-9.]* [KMGT]*i*B\) of.*/\1/p"; }

# Prints a row per second while the jobs run: $1 = tgs or plain.
watch_jobs() {
  local mode="$1" t=0
  printf '    %4s  %-22s  %-18s  %-16s  %-16s  %s\n' "t/s" "production it/s" "opportunistic it/s" \
    "opp. limit blk/s" "control phase" "memory prod | opp"
  while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
    sleep 1
    t=$((t + 1))
    local p o gate="-" phase="-" mem="-"
    p="$(last_rate "$work/$mode-prod.out")"
    o="$(last_rate "$work/$mode-opp.out")"
    if [[ "$mode" == tgs ]]; then
      local line
      line="$(report)"
      phase="$(phase_of <<<"$line")"
      gate="$(gate_of <<<"$line")"
      mem="$(memory_of train-prod <<<"$line") | $(memory_of train-opp <<<"$line")"
    fi
    printf '    %4s  %-22s  %-18s  %-16s  %-16s  %s\n' "$t" "${p:--} ($(pct "${p:-0}" "$r0") of solo)" "${o:--}" \
      "${gate:--}" "${phase:--}" "$mem"
    if ((t == seconds / 2)) && [[ "$mode" == tgs ]]; then memory_check; fi
    if ((t == seconds / 2 + 2)) && [[ "$mode" == tgs ]]; then operator_view; fi
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "demo: a $mode job failed; its output:" >&2; tail -n 20 "$work/$mode"-*.out >&2; exit 1; }; done
  pids=()
}

# Halfway through [2/4]: the opportunistic container holds 1 GiB of its 2 GiB;
# another of its processes asks for 1.5 GiB and must be refused.
memory_check() {
  local out
  out="$(in_container train-opp tgs "$bindir/tgs-test-client-linked" alloc alloc 1536MiB 2>&1 | grep '^RESULT alloc' || true)"
  if [[ "$out" == *CUDA_ERROR_OUT_OF_MEMORY* ]]; then
    say "   -> a second process of train-opp asks for 1.5 GiB: CUDA_ERROR_OUT_OF_MEMORY (1 GiB held, limit 2 GiB)"
  else
    echo "demo: expected the opportunistic container's second process to be refused, got: ${out:-no result}" >&2
    exit 1
  fi
}

# Two seconds later: what an operator sees (tgsctl on the admin socket, and
# the Prometheus endpoint).
operator_view() {
  say "   -> tgsctl status (the operator's view; metrics: http://127.0.0.1:$metrics_port/metrics):"
  "$bindir/tgsctl" --socket "$work/admin.sock" status 2>&1 | sed 's/^/        /' || true
}

bold "[1/4] The production job alone for 4 s (no TGS): its solo rate R0"
in_container train-prod plain "$bindir/tgs-train-sim" "${prod_args[@]}" --duration 4 >"$work/solo.out" 2>&1 || {
  echo "demo: the production job failed:" >&2; cat "$work/solo.out" >&2; exit 1; }
r0="$(steady_rate "$work/solo.out")"
say "R0 = $r0 iterations/s"

bold "[2/4] With TGS: tgs-controller, production (\"train-prod\") and opportunistic (\"train-opp\") jobs, ${seconds} s"
say "The controller names containers by the TGS_CONTAINER_ID they claim (--trust-claimed-ids) so that"
say "this demo needs no root; on a node it names them by their cgroup. Policy: $work/config.yaml"
# Port 0: a free port, so the demo never collides with a node's own controller.
TGS_LOG=info "$bindir/tgs-controller" --config "$work/config.yaml" --socket "$work/tgs.sock" \
  --state-dir "$work/state" --trust-claimed-ids --report-interval 1 --metrics-listen 127.0.0.1:0 \
  >"$work/controller.log" 2>&1 &
controller_pid=$!
for _ in $(seq 1 300); do [[ -S "$work/tgs.sock" ]] && break; sleep 0.01; done
[[ -S "$work/tgs.sock" ]] || { echo "demo: tgs-controller did not start:" >&2; cat "$work/controller.log" >&2; exit 1; }
metrics_port="$(sed -n 's/.*metrics on http:\/\/127.0.0.1:\([0-9]*\)\/metrics.*/\1/p' "$work/controller.log" | head -n1)"
in_container train-prod tgs "$bindir/tgs-train-sim" "${prod_args[@]}" --duration "$seconds" >"$work/tgs-prod.out" 2>&1 &
pids=($!)
in_container train-opp tgs "$bindir/tgs-train-sim" "${opp_args[@]}" --duration "$seconds" >"$work/tgs-opp.out" 2>&1 &
pids+=($!)
watch_jobs tgs
kill "$controller_pid" && wait "$controller_pid" || true

bold "[3/4] Without TGS: the same two jobs, no shim and no controller, ${seconds} s"
in_container train-prod plain "$bindir/tgs-train-sim" "${prod_args[@]}" --duration "$seconds" >"$work/plain-prod.out" 2>&1 &
pids=($!)
in_container train-opp plain "$bindir/tgs-train-sim" "${opp_args[@]}" --duration "$seconds" >"$work/plain-opp.out" 2>&1 &
pids+=($!)
watch_jobs plain

bold "[4/4] Steady state (mean after the first 2 s)"
tp="$(steady_rate "$work/tgs-prod.out")"; to="$(steady_rate "$work/tgs-opp.out")"
pp="$(steady_rate "$work/plain-prod.out")"; po="$(steady_rate "$work/plain-opp.out")"
printf '    %-14s %18s %10s %22s\n' "" "production it/s" "of solo" "opportunistic it/s"
printf '    %-14s %18s %10s %22s\n' "alone" "$r0" "100%" "-"
printf '    %-14s %18s %10s %22s\n' "with TGS" "$tp" "$(pct "$tp" "$r0")" "$to"
printf '    %-14s %18s %10s %22s\n' "without TGS" "$pp" "$(pct "$pp" "$r0")" "$po"
say ""
say "With TGS production keeps (almost) its solo speed and the opportunistic job runs in the time"
say "production leaves idle; without TGS both contend and production slows down. tgs-bench-sharing"
say "measures the same with ratios (README, Performance)."
echo
echo "demo: ok"
