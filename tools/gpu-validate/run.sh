#!/usr/bin/env bash
# TGS on a real NVIDIA GPU: the validation harness (entry point).
#
#   tools/gpu-validate/run.sh [--bundle] [--only PHASES] [--dry-run] [--build-only] OUTDIR
#   (--fake-gpu: selftest.sh only, see below)
#
# Phases (all by default, in this order; --only env,share,... picks some):
#   env       GPU, driver, PyTorch facts (nvidia-smi, NVML, torch); checks the binaries
#   memlimit  the shim's memory limit as PyTorch and NVML see it (no controller)
#   train     ResNet-50 and a Transformer trained without and under the shim: same losses?
#   um        the same training under tgs-controller with device memory, then with an
#             oversubscribing class (unified memory): same losses? step-time overhead?
#   launch    per-launch overhead of the shim (CUDA C++ microbenchmark)
#   share     production + opportunistic training, without TGS and under tgs-controller
#   infer     production inference latency alone and beside opportunistic training
# Results: OUTDIR/results.md (the report), OUTDIR/summary.json, OUTDIR/run.log and
# the per-test JSON/CSV/log files. --bundle packs those per-test files into
# OUTDIR/details.tar.gz instead, so OUTDIR holds 4 files (the device tool returns
# at most 8). --dry-run needs no GPU: it prints every command and has each Python
# script validate its arguments. --build-only builds the shim from source the
# way the fallback does (no pack, no GPU needed) and stops. --fake-gpu runs the
# share and infer phases for real with jobs whose steps are sleeps (gv_fake.py):
# it tests the orchestration without a GPU and measures nothing. Exit status: 0 when
# every step ran and the correctness checks (memory limit, training, unified
# memory's losses) passed; 1 otherwise; 2 on bad usage or when the machine is
# not fit to run (no GPU, too little free GPU memory).
#
# Binaries come from .gpu-pack/ (tools/gpu-validate/pack.sh, run on the build
# machine); without it the shim is built here with cmake (the controller needs
# yaml-cpp, so without a pack the phases under tgs-controller are skipped).
#
# SAFETY RULES (enforced below; keep them when editing):
#  1. Managed (unified) memory only where bounded. Managed memory asked beyond
#     the card's free memory can hang the GPU, and tgs-controller now gives it to
#     opportunistic classes by default (oversubscribe: true: the shim turns
#     cuMemAlloc into cuMemAllocManaged). So every controller.yaml here declares
#     its opportunistic classes with oversubscribe: false, and controller_start
#     refuses a policy (tgs-controller --check-config) in which any rule but the
#     um phase's gv-um-managed one oversubscribes. The one exception is that
#     rule: one job alone on the GPU, whose memory (managed or not) is bounded
#     twice, by the class's hard memory_limit (the shim refuses beyond it) and by
#     PyTorch's allocator cap, both TGS_GV_UM_LIMIT (default 8 GiB) and never more
#     than a quarter of the GPU's free memory (see um_bound). Without the
#     controller nothing is managed: the shim never oversubscribes on its own.
#  2. Modest memory: every PyTorch job caps its allocator at TGS_GV_JOB_MEM_CAP
#     (default 8 GiB); the memory-limit test asks for at most limit + 1 GiB
#     (9 GiB); at most two jobs run at once. The run refuses to start with less
#     than TGS_GV_MIN_FREE_MIB (32 GiB) free on the GPU.
#  3. Bounded time: every command runs under `timeout`; phases that would not
#     fit in TGS_GV_BUDGET_S (default 420 s) are skipped, not started, and no
#     command outlives the budget by more than 60 s (8 minutes in all).
#  4. Cleanup: every process started here is ended at exit (trap), by its pid.
#  5. Read-only towards the GPU's settings: nvidia-smi is only queried; clocks,
#     compute mode, persistence, MIG and resets are never touched.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
REPO="$(cd "$HERE/../.." && pwd)"

# --- settings (environment overrides) ----------------------------------------
PY="${TGS_GV_PYTHON:-python3}"
BUDGET_S="${TGS_GV_BUDGET_S:-420}"
SHARE_WINDOW_S="${TGS_GV_SHARE_WINDOW_S:-15}"
INFER_WINDOW_S="${TGS_GV_INFER_WINDOW_S:-12}"
MEM_LIMIT="${TGS_GV_MEM_LIMIT:-8GiB}"
JOB_MEM_CAP="${TGS_GV_JOB_MEM_CAP:-8GiB}"
MIN_FREE_MIB="${TGS_GV_MIN_FREE_MIB:-32768}"
PROD_BUSY="${TGS_GV_PROD_BUSY:-0.5}"      # production's GPU busy fraction alone (sets its data-loading sleep)
TRAIN_STEPS="${TGS_GV_TRAIN_STEPS:-30}"
UM_LIMIT="${TGS_GV_UM_LIMIT:-8GiB}"        # phase um: managed-memory bound (lowered to 1/4 of free, see um_bound)
READY_TIMEOUT_S=150                         # import torch + CUDA start + model + warm-up, per job
PACK="${TGS_GV_PACK:-$REPO/.gpu-pack}"
BUILD_JOBS="${TGS_GV_BUILD_JOBS:-$(nproc)}"  # fallback build only
read -r -a EXTRA_CMAKE_ARGS <<<"${TGS_GV_CMAKE_ARGS:-}"  # fallback build only (tests)
ALL_PHASES=(env memlimit train um launch share infer)  # the long ones last: the budget cuts those

# --- state -------------------------------------------------------------------
OUTDIR="" DETAILS="" WORK="" BUNDLE=0 DRY=0 BUILD_ONLY=0 FAKE=0 PHASES=("${ALL_PHASES[@]}")
SHIM="" SHIM_NVML="" CONTROLLER="" CONTROLLER_LIBS="" CONTROLLER_PID=""
GPU_FREE_MIB=""       # GPU 0's free memory at start (check_gpu_free); empty in dry and fake runs
ALL_PIDS=()           # every background process started here (for the exit trap)
T0=$SECONDS
TEE_PID=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
say() { printf '[gpu-validate %s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*"; }
die_usage() { echo "run.sh: $*" >&2; exit 2; }

parse_args() {
  local p n only=0
  while (($#)); do
    case "$1" in
      --bundle) BUNDLE=1; shift ;;
      --dry-run) DRY=1; shift ;;
      --build-only) BUILD_ONLY=1; shift ;;
      --fake-gpu) FAKE=1; shift ;;
      --only)
        [[ $# -ge 2 ]] || die_usage "--only needs a comma-separated list of phases"
        IFS=, read -r -a PHASES <<<"$2"
        only=1
        for p in "${PHASES[@]}"; do
          [[ " ${ALL_PHASES[*]} " == *" $p "* ]] || die_usage "unknown phase '$p' (phases: ${ALL_PHASES[*]})"
        done
        shift 2 ;;
      -h|--help) usage; exit 0 ;;
      -*) die_usage "unknown option '$1' (see --help)" ;;
      *) [[ -z "$OUTDIR" ]] || die_usage "one OUTDIR only"; OUTDIR="$1"; shift ;;
    esac
  done
  [[ -n "$OUTDIR" ]] || { usage >&2; exit 2; }
  if ((FAKE)); then
    ((only)) || PHASES=(share infer)
    for p in "${PHASES[@]}"; do
      [[ "$p" == share || "$p" == infer ]] || die_usage "--fake-gpu runs only the share and infer phases"
    done
  fi
  for n in BUDGET_S SHARE_WINDOW_S INFER_WINDOW_S MIN_FREE_MIB TRAIN_STEPS BUILD_JOBS; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || die_usage "TGS_GV_$n must be a whole number, not '${!n}'"
  done
}

want() { [[ " ${PHASES[*]} " == *" $1 "* ]]; }

# --- bookkeeping: every step leaves one line in steps.tsv ---------------------
record_step() {  # NAME STATUS RC SECONDS NOTE
  local note="${5//$'\t'/ }"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${note//$'\n'/ }" >>"$DETAILS/steps.tsv"
}

status_of_rc() {
  case "$1" in
    0) echo ok ;;
    124|137) echo timeout ;;
    *) echo fail ;;
  esac
}

# limit_for SECONDS: a step's timeout, cut so that nothing outlives the budget
# by more than 60 s (the GPU lease is short; the device tool stops a command at 600 s).
limit_for() {
  local left=$((BUDGET_S + 60 - (SECONDS - T0)))
  ((left < 10)) && left=10
  echo $(($1 < left ? $1 : left))
}

# fits NAME SECONDS: true when the step's estimate fits in what is left of the budget.
fits() {
  local left=$((BUDGET_S - (SECONDS - T0)))
  if (($2 > left)); then
    say "SKIP $1: needs about $2 s, $left s left of the ${BUDGET_S} s budget"
    record_step "$1" skip - 0 "about $2 s needed, $left s left of the budget"
    return 1
  fi
}

# run_step [--stdout FILE] NAME TIMEOUT_S COMMAND...: runs in the foreground under
# timeout, output to DETAILS/NAME.log, and records the outcome; returns its rc.
run_step() {
  local stdout=""
  if [[ "$1" == --stdout ]]; then stdout="$2"; shift 2; fi
  local name="$1" limit
  limit="$(limit_for "$2")"; shift 2
  local log="$DETAILS/$name.log" start=$SECONDS rc=0
  say "==> $name (timeout ${limit}s): $(describe_cmd "$@")"
  if ((DRY)); then
    dry_check "$name" "$@"
    return 0
  fi
  if [[ -n "$stdout" ]]; then
    timeout -k 10 "$limit" "$@" >"$stdout" 2>"$log" || rc=$?
  else
    timeout -k 10 "$limit" "$@" >"$log" 2>&1 || rc=$?
  fi
  record_step "$name" "$(status_of_rc "$rc")" "$rc" "$((SECONDS - start))" ""
  ((rc == 0)) || { say "    $name: $(status_of_rc "$rc") (rc $rc); last lines of $log:"; tail -n 5 "$log" | sed 's/^/      /'; }
  return "$rc"
}

# The command without the long environment, for the log.
describe_cmd() {
  local out=() a skip=0
  for a in "$@"; do
    if ((skip)); then skip=0; continue; fi
    case "$a" in
      -u) skip=1 ;;  # env -u LD_PRELOAD
      LD_PRELOAD=*) out+=("LD_PRELOAD=<shim>") ;;
      TGS_STATE_DIR=*|TGS_CONTROLLER_SOCKET=*|PYTHONUNBUFFERED=*|env) ;;
      "$HERE"/*) out+=("${a#"$HERE"/}") ;;
      "$DETAILS"/*) out+=("${a#"$DETAILS"/}") ;;
      *) out+=("$a") ;;
    esac
  done
  echo "${out[*]}"
}

# Dry run: Python scripts parse their arguments (--check-args: no torch, no
# GPU); other commands are only printed.
dry_check() {
  local name="$1"; shift
  local a is_py=0
  for a in "$@"; do [[ "$a" == *.py ]] && is_py=1; done
  if ((is_py)); then
    if "$@" --check-args >"$DETAILS/$name.log" 2>&1; then
      record_step "$name" dry-run 0 0 "arguments ok"
    else
      record_step "$name" fail 1 0 "arguments refused: $(tail -n 1 "$DETAILS/$name.log")"
      say "    $name: arguments refused:"; sed 's/^/      /' "$DETAILS/$name.log"
    fi
  else
    record_step "$name" dry-run 0 0 "not run"
  fi
}

# --- process handling ----------------------------------------------------------
# Ends a process we started (and what it started), if it is still our child:
# a pid is never signalled once it may have been reused.
end_process() {
  local pid="$1" ppid=""
  [[ -r "/proc/$pid/stat" ]] || return 0
  read -r _ _ _ ppid _ <"/proc/$pid/stat" || return 0
  [[ "$ppid" == "$$" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true  # timeout forwards it to its command's process group
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.3
  done
  if kill -0 "$pid" 2>/dev/null; then
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  local pid
  for pid in "${ALL_PIDS[@]}"; do end_process "$pid"; done
  if [[ -n "$DETAILS" && -d "$DETAILS" ]] && ((!BUILD_ONLY)); then
    publish
    rc=$(final_status "$rc")
    say "results: $OUTDIR/results.md (exit status $rc)"
  fi
  [[ -n "$WORK" && "${TGS_GV_KEEP_WORK:-0}" != 1 ]] && rm -rf "$WORK"
  # Let tee write the last lines before the device tool collects OUTDIR.
  if [[ -n "$TEE_PID" ]]; then exec >&- 2>&-; wait "$TEE_PID" 2>/dev/null; fi
  exit "$rc"
}

# 0 only if the run got through, every step is ok and correctness held.
final_status() {
  local rc="$1"
  ((rc == 0)) || { echo "$rc"; return; }
  ((DRY)) && { grep -q $'\tfail\t' "$DETAILS/steps.tsv" 2>/dev/null && echo 1 || echo 0; return; }
  if grep -qE $'\t(fail|timeout)\t' "$DETAILS/steps.tsv" 2>/dev/null; then echo 1; return; fi
  local passed um
  passed="$(json_get "$OUTDIR/summary.json" correctness_passed)"
  um="$("$PY" -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["verdicts"].get("unified_memory"))
except (OSError, ValueError, KeyError): print(None)' "$OUTDIR/summary.json")"
  if want memlimit && want train && [[ "$passed" != True ]]; then echo 1
  elif want um && [[ "$um" == False ]]; then echo 1  # losses with unified memory differ: a bug
  else echo 0; fi
}

# results.md + summary.json from what is there so far; with --bundle also the
# per-test files as one archive. Called after every phase and at exit.
publish() {
  "$PY" "$HERE/summarize.py" "$DETAILS" "$OUTDIR" || say "summarize.py failed (the per-test files are intact)"
  if ((BUNDLE)); then
    tar -czf "$OUTDIR/.details.tar.gz.tmp" -C "$DETAILS" . && mv "$OUTDIR/.details.tar.gz.tmp" "$OUTDIR/details.tar.gz"
  fi
}

# Reads one top-level key of a result file ("" when absent).
json_get() {
  "$PY" -c 'import json,sys
try: v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except (OSError, ValueError): v = ""
print("" if v is None else v)' "$1" "$2"
}

# --- binaries: .gpu-pack, else build the shim here -------------------------------
select_binaries() {
  if [[ -f "$PACK/lib/tgs/libtgs.so" ]]; then
    say "binaries from $PACK ($(sed -n 's/^commit: //p' "$PACK/MANIFEST" 2>/dev/null))"
    cp "$PACK/MANIFEST" "$DETAILS/pack-manifest.txt" 2>/dev/null || true
    SHIM="$PACK/lib/tgs/libtgs.so" SHIM_NVML="$PACK/lib/tgs/libtgs-nvml.so"
    CONTROLLER="$PACK/bin/tgs-controller" CONTROLLER_LIBS="$PACK/lib/deps"
    if ! shim_loads; then
      say "the packed shim does not load here (see shim-check.log); building it here instead"
      local packed_controller="$CONTROLLER"
      build_here || true
      # The packed controller is a separate program: keep it if the build here has none.
      [[ -n "$CONTROLLER" ]] || CONTROLLER="$packed_controller" CONTROLLER_LIBS="$PACK/lib/deps"
    fi
  else
    say "no pack at $PACK (run tools/gpu-validate/pack.sh on the build machine and carry .gpu-pack)"
    build_here || true
  fi
  [[ -n "$SHIM" ]] || return 1
  check_controller
}

# The shim must be what libcuda.so.1 and libnvidia-ml.so.1 resolve to in a
# preloaded Python (that is how PyTorch and pynvml reach the driver).
shim_loads() {
  ((DRY)) && return 0
  LD_PRELOAD="$SHIM $SHIM_NVML" timeout 60 "$PY" -c '
import ctypes
for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
    assert hasattr(ctypes.CDLL(lib), "tgs_shim_identity"), lib + " is not the TGS shim"
print("shim preloaded: libcuda.so.1 and libnvidia-ml.so.1 resolve to TGS")' >"$DETAILS/shim-check.log" 2>&1
}

check_controller() {
  [[ -n "$CONTROLLER" ]] || return 0
  if LD_LIBRARY_PATH="$CONTROLLER_LIBS" "$CONTROLLER" --help >"$DETAILS/controller-check.log" 2>&1; then
    return 0
  fi
  # An older libstdc++ here than on the build machine: use the packed one.
  if [[ -d "$PACK/lib/compat" ]] &&
    LD_LIBRARY_PATH="$CONTROLLER_LIBS:$PACK/lib/compat" "$CONTROLLER" --help >>"$DETAILS/controller-check.log" 2>&1; then
    CONTROLLER_LIBS="$CONTROLLER_LIBS:$PACK/lib/compat"
    say "tgs-controller runs with the packed libstdc++ (lib/compat)"
    return 0
  fi
  say "tgs-controller does not start here (controller-check.log): phases under TGS are skipped"
  CONTROLLER=""
}

# Builds libtgs.so and libtgs-nvml.so from a copy of the sources. The
# top-level CMakeLists.txt adds controller/ (which needs yaml-cpp) whenever it
# exists, so the copy leaves controller/ out unless yaml-cpp is found here.
build_here() {
  SHIM="" SHIM_NVML="" CONTROLLER=""
  local src="$WORK/src" bld="$WORK/build" start=$SECONDS
  if ((DRY)); then
    say "[dry-run] would build the shim in $bld"
    SHIM="$bld/lib/tgs/libtgs.so" SHIM_NVML="$bld/lib/tgs/libtgs-nvml.so"
    return 0
  fi
  if ! command -v cmake >/dev/null; then
    say "no cmake here and no pack: cannot get the shim. Run pack.sh on the build machine and carry .gpu-pack."
    record_step build-shim fail 1 0 "no pack and no cmake"
    return 1
  fi
  local cuda_root="${TGS_CUDA_ROOT:-/usr/local/cuda}"
  if [[ ! -f "$cuda_root/include/cuda.h" ]] && command -v nvcc >/dev/null; then
    cuda_root="$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)"
  fi
  mkdir -p "$src/tools"
  cp -a "$REPO/CMakeLists.txt" "$REPO/shim" "$src/"
  cp -a "$REPO/tools/simgpu" "$REPO/tools/workloads" "$src/tools/"  # added unconditionally by CMakeLists.txt
  local gen=() targets=(tgs_shim tgs_shim_nvml)
  command -v ninja >/dev/null && gen=(-G Ninja)
  say "building the shim here (no pack): cmake, CUDA headers from $cuda_root"
  cp -a "$REPO/controller" "$src/"
  if timeout 120 cmake -S "$src" -B "$bld" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DTGS_CUDA_ROOT="$cuda_root" "${EXTRA_CMAKE_ARGS[@]}" >"$DETAILS/build-configure.log" 2>&1; then
    targets+=(tgs-controller)
  else
    say "  configure with controller/ failed (yaml-cpp missing?); without it, so no tgs-controller"
    rm -rf "$src/controller" "$bld"
    if ! timeout 120 cmake -S "$src" -B "$bld" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DTGS_CUDA_ROOT="$cuda_root" "${EXTRA_CMAKE_ARGS[@]}" >>"$DETAILS/build-configure.log" 2>&1; then
      say "cannot configure the shim here (build-configure.log); run pack.sh on the build machine instead"
      record_step build-shim fail 1 "$((SECONDS - start))" "cmake configure failed"
      return 1
    fi
  fi
  if ! timeout 300 cmake --build "$bld" -j "$BUILD_JOBS" --target "${targets[@]}" >"$DETAILS/build.log" 2>&1; then
    say "the shim does not build here (build.log)"
    record_step build-shim fail 1 "$((SECONDS - start))" "build failed"
    return 1
  fi
  SHIM="$bld/lib/tgs/libtgs.so" SHIM_NVML="$bld/lib/tgs/libtgs-nvml.so"
  [[ -x "$bld/bin/tgs-controller" ]] && CONTROLLER="$bld/bin/tgs-controller" CONTROLLER_LIBS=""
  echo "commit: $(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown) (shim built on the GPU machine)" \
    >"$DETAILS/pack-manifest.txt"
  record_step build-shim ok 0 "$((SECONDS - start))" "targets: ${targets[*]}"
  shim_loads || { say "the shim built here does not load (shim-check.log)"; SHIM=""; return 1; }
}

# --- how a job is run: JOB_ENV for `env` -------------------------------------------
# plain: no shim. local: shim, local accounting with TGS_MEMORY_LIMIT (no
# controller: its socket path does not exist). tgs: shim registered with the
# controller of the current scenario, which names the container by
# TGS_CONTAINER_ID (--trust-claimed-ids).
JOB_ENV=()
job_env() {  # MODE ID [LIMIT]
  local mode="$1" id="$2" limit="${3:-$MEM_LIMIT}"
  JOB_ENV=(-u LD_PRELOAD PYTHONUNBUFFERED=1)
  case "$mode" in
    plain) ;;
    local) JOB_ENV+=(LD_PRELOAD="$SHIM $SHIM_NVML" TGS_CONTAINER_ID="$id" TGS_MEMORY_LIMIT="$limit"
                     TGS_STATE_DIR="$WORK/state-local" TGS_CONTROLLER_SOCKET="$WORK/no-controller.sock"
                     TGS_LOG=debug) ;;
    tgs) JOB_ENV+=(LD_PRELOAD="$SHIM $SHIM_NVML" TGS_CONTAINER_ID="$id" TGS_STATE_DIR="$WORK/state-local"
                   TGS_CONTROLLER_SOCKET="$CONTROLLER_SOCK" TGS_LOG=debug) ;;
    *) echo "job_env: unknown mode $mode" >&2; return 1 ;;
  esac
}

# --- tgs-controller -------------------------------------------------------------------
CONTROLLER_SOCK=""
write_controller_config() {
  cat >"$WORK/controller.yaml" <<'EOF'
# Production: the container whose TGS_CONTAINER_ID is "prod"; every other
# container is opportunistic. Limits are generous for the jobs (a few GiB) and
# still far below the GPU. Opportunistic classes oversubscribe by default
# (unified memory, cuMemAllocManaged); that is switched off here, so the share,
# infer and launch phases measure plain device memory (safety rule 1; the um
# phase has its own policy, controller-um.yaml).
version: 1
control:
  interval_ms: 100
  production_target: 0.97
defaults:
  class: opportunistic
  memory_limit: 12GiB
classes:
  opportunistic: { kind: opportunistic, oversubscribe: false }
containers:
  - match: { id: prod }
    class: production
    memory_limit: 24GiB
EOF
  cp "$WORK/controller.yaml" "$DETAILS/controller.yaml"
}

# The um phase's policy: two opportunistic classes that differ only in
# oversubscribe, one rule each, the same hard memory limit (UM_LIMIT_MIB, the
# bound of safety rule 1). Everything else is the built-in default; since no
# production container runs, the managed job's resident budget covers all of
# it: the phase measures unified memory itself, not memory moved to the host.
write_um_config() {
  cat >"$WORK/controller-um.yaml" <<EOF
# Phase um: the same training as a device-memory and as an oversubscribing
# (unified memory) opportunistic container; nothing else runs.
version: 1
control:
  interval_ms: 100
defaults:
  class: opportunistic
  memory_limit: ${UM_LIMIT_MIB}MiB
classes:
  opportunistic: { kind: opportunistic, oversubscribe: false }
  um-device: { kind: opportunistic, oversubscribe: false, memory_limit: ${UM_LIMIT_MIB}MiB }
  um-managed: { kind: opportunistic, oversubscribe: true, memory_limit: ${UM_LIMIT_MIB}MiB }
containers:
  - match: { id: gv-um-device }
    class: um-device
  - match: { id: gv-um-managed }
    class: um-managed
EOF
  cp "$WORK/controller-um.yaml" "$DETAILS/controller-um.yaml"
}

# policy_allowed LOG: safety rule 1 on the effective policy that
# `tgs-controller --check-config` printed into LOG: no rule (nor the default)
# may grant oversubscription except the one matching id gv-um-managed. Prints
# the offending rules.
policy_allowed() {
  awk '/^  \[[0-9]+\]/ || /^  default/ { rule = $0 }
       /->/ && /(^|[[:space:]])oversubscribe([[:space:]]|$)/ && rule !~ /id=gv-um-managed([[:space:]]|$)/ {
         print "      " rule; bad = 1 }
       END { exit bad }' "$1"
}

controller_start() {  # NAME [CONFIG]: fresh socket and state directory per scenario
  local name="$1" config="${2:-$WORK/controller.yaml}" dir="$WORK/ctl-$1"
  local log="$DETAILS/$name.controller.log"
  [[ -n "$CONTROLLER" ]] || { say "no tgs-controller: $name skipped"; return 1; }
  mkdir -p "$dir/state"
  CONTROLLER_SOCK="$dir/tgs.sock"
  say "    tgs-controller for $name: $(basename "$config"), --trust-claimed-ids, socket $CONTROLLER_SOCK"
  # The policy as the controller reads it, at the top of the log (dry runs stop here).
  LD_LIBRARY_PATH="$CONTROLLER_LIBS" "$CONTROLLER" --check-config "$config" >"$log" 2>&1 ||
    { say "    controller config refused:"; sed 's/^/      /' "$log"; return 1; }
  if ! policy_allowed "$log" >"$WORK/policy-refused"; then
    say "    REFUSED (safety rule 1): $(basename "$config") gives unified memory to"; cat "$WORK/policy-refused"
    return 1
  fi
  ((DRY)) && return 0
  LD_LIBRARY_PATH="$CONTROLLER_LIBS" TGS_LOG=info timeout -k 5 "$(limit_for $((READY_TIMEOUT_S + 200)))" \
    "$CONTROLLER" --config "$config" --socket "$CONTROLLER_SOCK" --state-dir "$dir/state" \
    --trust-claimed-ids --report-interval 1 >>"$log" 2>&1 &
  CONTROLLER_PID=$!
  ALL_PIDS+=("$CONTROLLER_PID")
  local i
  for i in $(seq 1 100); do
    [[ -S "$CONTROLLER_SOCK" ]] && return 0
    kill -0 "$CONTROLLER_PID" 2>/dev/null || break
    sleep 0.05
  done
  say "    tgs-controller did not come up; its log:"; sed 's/^/      /' "$log"
  return 1
}

controller_stop() {
  [[ -n "$CONTROLLER_PID" ]] && end_process "$CONTROLLER_PID"
  CONTROLLER_PID=""
}

# --- scenarios: jobs that start together and measure the same window ----------------
SCEN="" SCEN_SYNC="" SCEN_WINDOW=0 SCEN_START=0 SCEN_PIDS=() SCEN_NAMES=() SCEN_TGS=0 SAMPLER_PID=""
# A scenario's time beyond its window (start-up, warm-up, exit): an estimate
# at first, then the longest seen, so the budget check learns this machine.
SCEN_OVERHEAD_S=25
scen_est() { echo $(($1 + SCEN_OVERHEAD_S)); }

scenario_begin() {  # NAME WINDOW_S plain|tgs
  SCEN="$1" SCEN_WINDOW="$2" SCEN_START=$SECONDS SCEN_PIDS=() SCEN_NAMES=() SCEN_TGS=0
  SCEN_SYNC="$WORK/sync-$SCEN"
  mkdir -p "$SCEN_SYNC"
  say "==> $SCEN (${SCEN_WINDOW} s window)"
  if [[ "$3" == tgs ]]; then
    if [[ -z "$CONTROLLER" ]]; then
      record_step "$SCEN" skip - 0 "no tgs-controller (no pack, and it cannot be built here)"
      return 1
    fi
    SCEN_TGS=1
    controller_start "$SCEN" ||
      { record_step "$SCEN" fail 1 0 "tgs-controller did not start or refused its policy ($SCEN.controller.log)"; return 1; }
  fi
}

# start_job ROLE MODE ID SCRIPT ARGS...: one job of the scenario, in the background.
start_job() {
  local role="$1" mode="$2" id="$3" script="$4"; shift 4
  local name="$SCEN.$role"
  job_env "$mode" "$id"
  local cmd=(env "${JOB_ENV[@]}" "$PY" "$HERE/$script" "$@" --name "$name" --sync-dir "$SCEN_SYNC"
             --out "$DETAILS/$name.json" --csv "$DETAILS/$name.csv" --mem-cap "$JOB_MEM_CAP")
  ((FAKE)) && cmd+=(--fake-gpu --warmup-s 1)
  say "    $role ($mode, id $id): $(describe_cmd "${cmd[@]}")"
  if ((DRY)); then dry_check "$name" "${cmd[@]}"; return 0; fi
  timeout -k 10 "$(limit_for $((READY_TIMEOUT_S + SCEN_WINDOW + 60)))" "${cmd[@]}" >"$DETAILS/$name.log" 2>&1 &
  SCEN_PIDS+=($!) SCEN_NAMES+=("$name")
  ALL_PIDS+=($!)
}

# NVML utilisation samples while the scenario runs (no shim).
start_sampler() {
  ((DRY || FAKE)) && return 0
  timeout -k 5 "$(limit_for $((READY_TIMEOUT_S + SCEN_WINDOW + 30)))" env -u LD_PRELOAD "$PY" "$HERE/nvml_sampler.py" \
    --out "$DETAILS/$SCEN.util.csv" --interval-ms 100 --duration-s $((READY_TIMEOUT_S + SCEN_WINDOW + 20)) \
    >"$DETAILS/$SCEN.util.log" 2>&1 &
  SAMPLER_PID=$!
  ALL_PIDS+=("$SAMPLER_PID")
}

# Waits until every job has warmed up, gives them one common window, waits for
# them to finish, and records each job's and the scenario's outcome.
scenario_end() {
  local ok=1 note="" i
  if ((DRY)); then
    record_step "$SCEN" dry-run 0 0 ""
    ((SCEN_TGS)) && controller_stop
    return 0
  fi
  if wait_ready; then
    local now start end
    now="$(date +%s.%N)"
    start="$(awk -v n="$now" 'BEGIN { printf "%.3f", n + 1.0 }')"
    end="$(awk -v s="$start" -v w="$SCEN_WINDOW" 'BEGIN { printf "%.3f", s + w }')"
    echo "$start $end" >"$SCEN_SYNC/go.tmp" && mv "$SCEN_SYNC/go.tmp" "$SCEN_SYNC/go"
    say "    all jobs warmed up after $((SECONDS - SCEN_START)) s; measuring ${SCEN_WINDOW} s"
    # A job stuck after its window (a launch held forever, say) is itself a
    # finding; it must not also eat the budget until its own timeout.
    stop_after $((SCEN_WINDOW + 35))
    [[ -z "$STUCK" ]] || { ok=0 note="still running 30 s after the window, stopped:$STUCK"; say "    $note"; }
  else
    ok=0 note="a job did not get ready"
    for i in "${!SCEN_PIDS[@]}"; do end_process "${SCEN_PIDS[$i]}"; done
  fi
  for i in "${!SCEN_PIDS[@]}"; do
    local rc=0
    wait "${SCEN_PIDS[$i]}" || rc=$?
    record_step "${SCEN_NAMES[$i]}" "$(status_of_rc "$rc")" "$rc" "$((SECONDS - SCEN_START))" ""
    if ((rc != 0)); then
      ok=0
      say "    ${SCEN_NAMES[$i]}: $(status_of_rc "$rc") (rc $rc); last lines of its log:"
      tail -n 8 "$DETAILS/${SCEN_NAMES[$i]}.log" | sed 's/^/      /'
    else
      tail -n 1 "$DETAILS/${SCEN_NAMES[$i]}.log" | sed 's/^/      /'
    fi
  done
  [[ -n "$SAMPLER_PID" ]] && { end_process "$SAMPLER_PID"; SAMPLER_PID=""; }
  ((SCEN_TGS)) && controller_stop
  local overhead=$((SECONDS - SCEN_START - SCEN_WINDOW))
  ((overhead > SCEN_OVERHEAD_S)) && SCEN_OVERHEAD_S=$overhead
  record_step "$SCEN" "$([[ $ok == 1 ]] && echo ok || echo fail)" "$((1 - ok))" "$((SECONDS - SCEN_START))" "$note"
  ((ok))
}

# stop_after SECONDS: waits that long at most for the scenario's jobs to end,
# then ends the rest and names them in STUCK. (Not in a $(...) subshell: a
# signal to run.sh is handled only between foreground commands.)
STUCK=""
stop_after() {
  local deadline=$((SECONDS + $1)) i running
  STUCK=""
  while ((SECONDS < deadline)); do
    running=0
    for i in "${!SCEN_PIDS[@]}"; do kill -0 "${SCEN_PIDS[$i]}" 2>/dev/null && running=1; done
    ((running)) || return 0
    sleep 0.5
  done
  for i in "${!SCEN_PIDS[@]}"; do
    if kill -0 "${SCEN_PIDS[$i]}" 2>/dev/null; then
      STUCK+=" ${SCEN_NAMES[$i]}"
      end_process "${SCEN_PIDS[$i]}"
    fi
  done
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT_S)) i all
  while ((SECONDS < deadline)); do
    all=1
    for i in "${!SCEN_PIDS[@]}"; do
      if [[ ! -e "$SCEN_SYNC/${SCEN_NAMES[$i]}.ready" ]]; then
        all=0
        kill -0 "${SCEN_PIDS[$i]}" 2>/dev/null || { say "    ${SCEN_NAMES[$i]} ended before it was ready"; return 1; }
      fi
    done
    ((all)) && return 0
    sleep 0.2
  done
  say "    jobs not ready after ${READY_TIMEOUT_S} s"
  return 1
}

# --- phases ---------------------------------------------------------------------------
phase_env() {
  # Queries only (see the safety rules); each independent of the others.
  run_step env-nvidia-smi 30 bash -c 'nvidia-smi -L; echo
    nvidia-smi --query-gpu=name,uuid,memory.total,memory.used,memory.free,driver_version,compute_cap,pstate,clocks.sm,clocks.max.sm,utilization.gpu,compute_mode --format=csv; echo
    nvidia-smi --query-gpu=mig.mode.current,persistence_mode --format=csv; echo
    nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv; echo
    nvidia-smi' || true
  run_step envinfo 90 env -u LD_PRELOAD "$PY" "$HERE/envinfo.py" --out "$DETAILS/env.json" || true
  # Where the real driver is: the shim finds it itself (LD_LIBRARY_PATH, the
  # loader cache, /usr/local/nvidia/lib64, ...); if it cannot, export
  # TGS_REAL_LIBCUDA and TGS_REAL_LIBNVML and rerun.
  # shellcheck disable=SC2016  # expanded by the inner bash
  run_step tools 30 bash -c 'uname -a; ldd --version | head -n1; command -v nvcc && nvcc --version | tail -n2;
    command -v cmake && cmake --version | head -n1; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}";
    ldconfig -p | grep -E "libcuda\.so|libnvidia-ml\.so"; ls -l /usr/local/nvidia/lib64/libcuda.so* 2>/dev/null; true' ||
    true
}

# GPU 0's free memory in MiB, as nvidia-smi reports it (no shim involved).
gpu_free_mib() {
  timeout 30 nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits -i 0 | head -n1 | tr -d ' '
}

# Refuses to run on a GPU with too little free memory (another tenant, a
# leftover process): the safety rules assume the card is ours.
check_gpu_free() {
  ((DRY || FAKE)) && return 0
  command -v nvidia-smi >/dev/null || { say "nvidia-smi not found: this harness needs an NVIDIA GPU"; exit 2; }
  local free
  free="$(gpu_free_mib || true)"
  [[ "$free" =~ ^[0-9]+$ ]] || { say "cannot read the GPU's free memory from nvidia-smi ('$free')"; exit 2; }
  GPU_FREE_MIB="$free"
  if ((free < MIN_FREE_MIB)); then
    say "only $free MiB free on GPU 0 (< $MIN_FREE_MIB MiB): not running (TGS_GV_MIN_FREE_MIB)"
    exit 2
  fi
  local apps
  apps="$(timeout 30 nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null || true)"
  [[ -z "$apps" ]] || say "WARNING: other processes use the GPU; timings will be disturbed: $apps"
  say "GPU 0: $free MiB free"
}

phase_memlimit() {
  fits memlimit 30 || return 0
  job_env local gv-memlimit
  run_step memlimit 120 env "${JOB_ENV[@]}" "$PY" "$HERE/memlimit.py" --limit "$MEM_LIMIT" \
    --out "$DETAILS/memlimit.json" || true
  fits memlimit-expandable 30 || return 0
  job_env local gv-memlimit-expandable
  run_step memlimit-expandable 120 env "${JOB_ENV[@]}" PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True \
    "$PY" "$HERE/memlimit.py" --expandable-segments --limit "$MEM_LIMIT" --out "$DETAILS/memlimit-expandable.json" ||
    true
}

phase_train() {
  # Deterministic runs (train.py --mode check): cuBLAS needs this for it.
  local mode
  for mode in plain local; do
    local name=train-plain
    [[ "$mode" == local ]] && name=train-shim
    fits "$name" 60 || return 0
    job_env "$mode" gv-train 16GiB
    run_step "$name" 240 env "${JOB_ENV[@]}" CUBLAS_WORKSPACE_CONFIG=:4096:8 "$PY" "$HERE/train.py" --mode check \
      --steps "$TRAIN_STEPS" --out "$DETAILS/$name.json" --csv "$DETAILS/$name.csv" --mem-cap "$JOB_MEM_CAP" || true
  done
}

# The managed-memory bound of phase um (safety rule 1), in MiB: TGS_GV_UM_LIMIT,
# but never more than a quarter of GPU 0's free memory, read by check_gpu_free
# at the start and again now (the lower of the two). Why a quarter: managed
# memory asked beyond what the card has free can hang it, and what is free can
# shrink after it is read (another tenant, the driver's own structures, the
# CUDA context and its page tables, which the limit does not count). The job
# runs alone (the phases run one after the other) and can take no more than
# the bound, managed or not: the class's hard memory_limit (the shim refuses
# beyond it) and PyTorch's allocator cap (--mem-cap) are both set to it. A
# quarter leaves three times the bound as margin; on a machine that passed
# check_gpu_free (32 GiB free) the default 8 GiB is never lowered.
UM_LIMIT_MIB=""
um_bound() {
  UM_LIMIT_MIB="$(size_mib "$UM_LIMIT")" || return 1
  if ((DRY)); then
    say "    managed-memory bound ${UM_LIMIT_MIB} MiB (TGS_GV_UM_LIMIT; at run time at most 1/4 of the GPU's free memory)"
  else
    local now free="$GPU_FREE_MIB"
    now="$(gpu_free_mib || true)"
    [[ "$now" =~ ^[0-9]+$ ]] && { [[ -z "$free" ]] || ((now < free)); } && free="$now"
    [[ "$free" =~ ^[0-9]+$ ]] || { say "    cannot read the GPU's free memory: no managed memory without it"; return 1; }
    if ((UM_LIMIT_MIB > free / 4)); then
      say "    managed-memory bound lowered from ${UM_LIMIT_MIB} MiB (TGS_GV_UM_LIMIT) to $((free / 4)) MiB: a quarter of the ${free} MiB free"
      UM_LIMIT_MIB=$((free / 4))
    else
      say "    managed-memory bound ${UM_LIMIT_MIB} MiB (TGS_GV_UM_LIMIT; ${free} MiB free on the GPU)"
    fi
  fi
  # Below this the two models do not fit and the runs would only fail (and a
  # memory_limit of 0 would mean no limit at all).
  ((UM_LIMIT_MIB >= 2048)) || { say "    ${UM_LIMIT_MIB} MiB is too little to train the models"; return 1; }
}

# size_mib SIZE: '8GiB', '512MiB', ... in MiB (rounded down), or fails.
size_mib() {
  PYTHONPATH="$HERE" "$PY" -c 'import sys, gv_common
print(gv_common.parse_size(sys.argv[1]) >> 20)' "$1" 2>/dev/null
}

# Unmodified training (train.py --mode check, deterministic as in phase_train)
# under tgs-controller twice: as an opportunistic container that does not
# oversubscribe (plain device memory) and as one that does (PyTorch's
# cuMemAlloc becomes cuMemAllocManaged in the shim). Same policy otherwise,
# same limits, a fresh controller each: the only difference is the kind of
# memory. Same losses? How much slower is a step?
phase_um() {
  local kind name note
  if [[ -z "$CONTROLLER" ]]; then
    for kind in device managed; do
      record_step "train-um-$kind" skip - 0 "no tgs-controller (no pack, and it cannot be built here)"
    done
    return 0
  fi
  if ! um_bound; then
    record_step train-um-device skip - 0 "no safe managed-memory bound (see run.log)"
    return 0
  fi
  write_um_config
  # Both runs or neither: the managed run alone has nothing to compare with.
  fits train-um-device 120 || return 0
  for kind in device managed; do
    name="train-um-$kind"
    [[ "$kind" == device ]] || fits "$name" 60 || return 0
    if ! controller_start "$name" "$WORK/controller-um.yaml"; then
      note="tgs-controller did not start or refused its policy ($name.controller.log)"
      record_step "$name" fail 1 0 "$note"
      continue
    fi
    job_env tgs "gv-um-$kind"
    run_step "$name" 240 env "${JOB_ENV[@]}" CUBLAS_WORKSPACE_CONFIG=:4096:8 "$PY" "$HERE/train.py" --mode check \
      --steps "$TRAIN_STEPS" --out "$DETAILS/$name.json" --csv "$DETAILS/$name.csv" --mem-cap "${UM_LIMIT_MIB}MiB" ||
      true
    # Its log (DETAILS/NAME.controller.log) stays: the report takes the last
    # unified-memory status line from the managed run's.
    controller_stop
  done
}

# Production: ResNet-50 with a host-side data-loading sleep; opportunistic: a
# Transformer training back to back.
PROD_ARGS=(train.py --mode job --model resnet50)
OPP_ARGS=(train.py --mode job --model transformer)
DATA_MS=""

phase_share() {
  if fits share-alone-prod "$(scen_est "$SHARE_WINDOW_S")"; then
    scenario_begin share-alone-prod "$SHARE_WINDOW_S" plain
    start_job prod plain prod "${PROD_ARGS[@]}" --busy-target "$PROD_BUSY"
    start_sampler
    scenario_end || true
  fi
  DATA_MS="$(json_get "$DETAILS/share-alone-prod.prod.json" data_ms)"
  [[ -n "$DATA_MS" ]] || { DATA_MS=20; say "    no calibrated data-loading sleep: using ${DATA_MS} ms"; }
  say "    production's data-loading sleep: ${DATA_MS} ms per step"
  if fits share-alone-opp "$(scen_est "$SHARE_WINDOW_S")"; then
    scenario_begin share-alone-opp "$SHARE_WINDOW_S" plain
    start_job opp plain opp "${OPP_ARGS[@]}"
    scenario_end || true
  fi
  if fits share-plain "$(scen_est "$SHARE_WINDOW_S")"; then
    scenario_begin share-plain "$SHARE_WINDOW_S" plain
    start_job prod plain prod "${PROD_ARGS[@]}" --data-ms "$DATA_MS"
    start_job opp plain opp "${OPP_ARGS[@]}"
    scenario_end || true
  fi
  if fits share-tgs "$(scen_est "$SHARE_WINDOW_S")" && scenario_begin share-tgs "$SHARE_WINDOW_S" tgs; then
    start_job prod tgs prod "${PROD_ARGS[@]}" --data-ms "$DATA_MS"
    start_job opp tgs opp "${OPP_ARGS[@]}"
    scenario_end || true
  fi
}

phase_infer() {
  local period
  if fits infer-alone "$(scen_est "$INFER_WINDOW_S")"; then
    scenario_begin infer-alone "$INFER_WINDOW_S" plain
    start_job prod plain prod infer.py
    scenario_end || true
  fi
  period="$(json_get "$DETAILS/infer-alone.prod.json" period_ms)"
  [[ -n "$period" ]] || { period=10; say "    no calibrated request period: using ${period} ms"; }
  if fits infer-plain "$(scen_est "$INFER_WINDOW_S")"; then
    scenario_begin infer-plain "$INFER_WINDOW_S" plain
    start_job prod plain prod infer.py --period-ms "$period"
    start_job opp plain opp "${OPP_ARGS[@]}"
    scenario_end || true
  fi
  if fits infer-tgs "$(scen_est "$INFER_WINDOW_S")" && scenario_begin infer-tgs "$INFER_WINDOW_S" tgs; then
    start_job prod tgs prod infer.py --period-ms "$period"
    start_job opp tgs opp "${OPP_ARGS[@]}"
    scenario_end || true
  fi
  # Optional: what the shim and the controller cost the service without contention.
  if fits infer-tgs-alone $(($(scen_est "$INFER_WINDOW_S") + 60)) && scenario_begin infer-tgs-alone "$INFER_WINDOW_S" tgs; then
    start_job prod tgs prod infer.py --period-ms "$period"
    scenario_end || true
  fi
}

# The microbenchmark: compiled here with nvcc for this GPU (matching the
# driver), else the packed build (sm_90 + PTX), else PyTorch.
LAUNCH_CMD=()
prepare_launch_bench() {
  local nvcc cc
  nvcc="$(command -v nvcc || true)"
  [[ -n "$nvcc" || ! -x /usr/local/cuda/bin/nvcc ]] || nvcc=/usr/local/cuda/bin/nvcc
  cc="$(timeout 30 nvidia-smi --query-gpu=compute_cap --format=csv,noheader -i 0 2>/dev/null | head -n1 | tr -d ' .' || true)"
  [[ "$cc" =~ ^[0-9]+$ ]] || cc=90
  if [[ -n "$nvcc" ]] && run_step launch-build 120 "$nvcc" -O2 -std=c++17 -gencode "arch=compute_$cc,code=sm_$cc" \
    -gencode "arch=compute_$cc,code=compute_$cc" -o "$WORK/launch_bench" "$HERE/launch_bench.cu"; then
    LAUNCH_CMD=("$WORK/launch_bench")
  elif [[ -x "$PACK/bin/tgs-gv-launch-bench" ]]; then
    say "    using the packed launch benchmark"
    LAUNCH_CMD=("$PACK/bin/tgs-gv-launch-bench")
  else
    say "    no nvcc and no packed benchmark: measuring through PyTorch instead"
    LAUNCH_CMD=("$PY" "$HERE/launch_bench.py")
  fi
}

phase_launch() {
  fits launch 60 || return 0
  prepare_launch_bench
  local modes=(plain local) round mode
  # opp before prod: an opportunistic process alone must not meet a production
  # process that is still leaving.
  if [[ -n "$CONTROLLER" ]] && controller_start launch; then modes+=(opp prod); fi
  printf '{"burst": 256, "bursts": 300, "roundtrips": 2000, "rounds": 2, "modes": "%s"}\n' "${modes[*]}" \
    >"$DETAILS/launch-meta.json"
  for round in 1 2; do
    for mode in "${modes[@]}"; do
      case "$mode" in
        plain|local) job_env "$mode" gv-launch 1GiB ;;
        prod|opp) job_env tgs "$mode" ;;
      esac
      run_step --stdout "$DETAILS/launch-$mode-$round.json" "launch-$mode-$round" 60 \
        env "${JOB_ENV[@]}" "${LAUNCH_CMD[@]}" --label "$mode-$round" || true
    done
  done
  controller_stop
}

main() {
  parse_args "$@"
  mkdir -p "$OUTDIR"
  OUTDIR="$(cd "$OUTDIR" && pwd)"
  WORK="$(mktemp -d /tmp/tgs-gv.XXXXXX)"
  DETAILS="$OUTDIR"
  ((BUNDLE)) && DETAILS="$WORK/details"
  mkdir -p "$DETAILS" "$WORK/state-local"
  : >"$DETAILS/steps.tsv"
  ((FAKE)) && echo "run.sh --fake-gpu: jobs sleep instead of computing" >"$DETAILS/fake-gpu.txt"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  exec > >(tee -a "$OUTDIR/run.log") 2>&1
  TEE_PID=$!
  say "TGS real-GPU validation: phases ${PHASES[*]}; results in $OUTDIR$( ((BUNDLE)) && echo ' (bundled)')$( ((DRY)) && echo ' [dry run]')$( ((FAKE)) && echo ' [FAKE GPU: sleeps, not measurements]')"
  say "budget ${BUDGET_S} s; windows: sharing ${SHARE_WINDOW_S} s, inference ${INFER_WINDOW_S} s; job memory cap ${JOB_MEM_CAP}"
  command -v timeout >/dev/null || { say "coreutils timeout is required"; exit 2; }
  command -v "$PY" >/dev/null || { say "$PY not found (TGS_GV_PYTHON)"; exit 2; }
  if want um && ! size_mib "$UM_LIMIT" >/dev/null; then
    say "TGS_GV_UM_LIMIT must be a size (8GiB, 4096MiB, ...), not '$UM_LIMIT'"; exit 2
  fi
  if ((BUILD_ONLY)); then
    build_here || exit 1
    say "built: $SHIM $SHIM_NVML ${CONTROLLER:-(no tgs-controller: yaml-cpp missing)}"
    exit 0
  fi
  check_gpu_free
  want env && phase_env
  write_controller_config
  if ! select_binaries; then
    say "no usable shim: only the environment facts were collected"
    exit 1
  fi
  local phase
  for phase in memlimit train um launch share infer; do
    want "$phase" || continue
    "phase_$phase"
    publish
  done
  say "done in $((SECONDS - T0)) s"
}

main "$@"
