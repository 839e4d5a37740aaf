#!/usr/bin/env bash
# What of the GPU validation harness can be checked without a GPU:
#   1. shell syntax (bash -n) and shellcheck, where installed;
#   2. every Python file compiles (py_compile); selftest.py (helpers, the
#      measurement window, argument checks, summarize.py on made-up results);
#   3. launch_bench.cu compiles, where nvcc is installed;
#   4. run.sh --dry-run end to end: every command printed, every Python
#      script's arguments accepted, the controller's policies accepted
#      (tgs-controller --check-config, from .gpu-pack or build/), the um phase
#      included; safety rule 1: the controller gives unified memory only to the
#      um phase's gv-um-managed container, and run.sh's guard refuses a policy
#      that would give it to others (as the controller's default now does);
#   5. run.sh --fake-gpu: the share and infer phases end to end (processes,
#      start signal, tgs-controller, report) with jobs that sleep;
#   6. pack.sh into a temporary folder, where build/ has the binaries.
# Usage: tools/gpu-validate/selftest.sh   (exits non-zero on any failure)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d /tmp/tgs-gv-selftest.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# check NAME COMMAND...: runs it, output to a log shown on failure. (errexit
# does not apply inside a command run as a condition, so each function below
# returns at its first failure by hand.)
check() {
  local name="$1"; shift
  if "$@" >"$tmp/log" 2>&1; then
    echo "PASS  $name"; passed=$((passed + 1))
  else
    echo "FAIL  $name"; sed 's/^/      /' "$tmp/log" | tail -n 30; failed=$((failed + 1))
  fi
}

shell_syntax() { local f; for f in "$here"/*.sh; do bash -n "$f" || return 1; done; }
shell_lint() { shellcheck -x "$here"/*.sh; }
py_compile() {
  local f
  for f in "$here"/*.py; do
    python3 -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
      "$f" "$tmp/$(basename "$f")c" || return 1
  done
}

compile_cuda() {
  local nvcc
  nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  "$nvcc" -O2 -std=c++17 -gencode arch=compute_90,code=sm_90 -o "$tmp/launch_bench" "$here/launch_bench.cu" ||
    return 1
  # Refuses a burst beyond the launch queue (exit 64) before touching CUDA.
  local rc=0
  "$tmp/launch_bench" --burst 9999 >"$tmp/usage" 2>&1 || rc=$?
  ((rc == 64)) && grep -q usage "$tmp/usage"
}

# The dry run must accept every command; the report it writes must list them.
dry_run() {
  local pack="$repo/.gpu-pack"
  if [[ ! -x "$pack/bin/tgs-controller" && -x "$repo/build/bin/tgs-controller" ]]; then
    "$here/pack.sh" --out "$tmp/pack" >/dev/null || return 1
    pack="$tmp/pack"
  fi
  TGS_GV_PACK="$pack" "$here/run.sh" --dry-run --bundle "$tmp/dry" || return 1
  # --bundle: OUTDIR holds the report, the summary, the log and one archive.
  [[ "$(find "$tmp/dry" -type f | wc -l)" -le 8 ]] || return 1
  tar -tzf "$tmp/dry/details.tar.gz" | grep -q 'share-tgs.prod.log' || return 1
  tar -tzf "$tmp/dry/details.tar.gz" | grep -q 'controller-um.yaml' || return 1
  # Every step was a dry run with accepted arguments (none failed, none skipped).
  if tar -xzOf "$tmp/dry/details.tar.gz" ./steps.tsv | grep -v $'\tdry-run\t'; then return 1; fi
  # The um phase is in it: both training runs' arguments checked.
  [[ "$(tar -xzOf "$tmp/dry/details.tar.gz" ./steps.tsv | grep -cE $'^train-um-(device|managed)\tdry-run\t')" == 2 ]] ||
    return 1
  grep -q '## 5. Per-launch overhead' "$tmp/dry/results.md" || return 1
  grep -q '## 6. Unified memory (oversubscribing policy)' "$tmp/dry/results.md"
}

# Safety rule 1 on the policies the dry run wrote, as tgs-controller reads
# them: which rules oversubscribe (unified memory). Uses run.sh's own guard.
policy_guard() {
  local pack="$repo/.gpu-pack"
  [[ -x "$pack/bin/tgs-controller" ]] || pack="$tmp/pack"
  local ctl=(env LD_LIBRARY_PATH="$pack/lib/deps" "$pack/bin/tgs-controller" --check-config) d="$tmp/policy"
  mkdir -p "$d"
  tar -xzf "$tmp/dry/details.tar.gz" -C "$d" ./controller.yaml ./controller-um.yaml || return 1
  eval "$(sed -n '/^policy_allowed() {/,/^}/p' "$here/run.sh")"
  declare -F policy_allowed >/dev/null || return 1
  # share/infer/launch: nothing oversubscribes.
  "${ctl[@]}" "$d/controller.yaml" >"$d/main.txt" || return 1
  policy_allowed "$d/main.txt" || return 1
  if grep -- '->' "$d/main.txt" | grep -w oversubscribe; then return 1; fi
  # um: exactly one rule does, the one for gv-um-managed.
  "${ctl[@]}" "$d/controller-um.yaml" >"$d/um.txt" || return 1
  policy_allowed "$d/um.txt" || return 1
  [[ "$(grep -- '->' "$d/um.txt" | grep -cw oversubscribe)" == 1 ]] || return 1
  grep -A1 'id=gv-um-managed' "$d/um.txt" | grep -- '->' | grep -qw oversubscribe || return 1
  # Without `oversubscribe: false` the default opportunistic class oversubscribes,
  # and the guard must say so.
  grep -v 'oversubscribe: false' "$d/controller.yaml" >"$d/default.yaml"
  "${ctl[@]}" "$d/default.yaml" >"$d/default.txt" || return 1
  if policy_allowed "$d/default.txt"; then echo "guard accepted an oversubscribing default"; return 1; fi
}

# The share and infer phases for real, with jobs that sleep instead of
# computing: several processes, the start signal, tgs-controller, timeouts,
# cleanup and the report, end to end.
fake_gpu_run() {
  local pack="$repo/.gpu-pack"
  [[ -x "$pack/bin/tgs-controller" ]] || pack="$tmp/pack"
  TGS_GV_PACK="$pack" TGS_GV_SHARE_WINDOW_S=3 TGS_GV_INFER_WINDOW_S=3 "$here/run.sh" --fake-gpu "$tmp/fake" || return 1
  if grep -v $'\tok\t' "$tmp/fake/steps.tsv"; then return 1; fi
  [[ "$(wc -l <"$tmp/fake/steps.tsv")" -ge 19 ]] || return 1
  grep -q 'FAKE GPU RUN' "$tmp/fake/results.md" || return 1
  python3 - "$tmp/fake/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
sh = s["sharing"]
assert 0.45 <= sh["busy"] <= 0.55, sh            # production calibrated to half busy
for mode in ("plain", "tgs"):                    # sleeps do not contend: ~1.0 of solo
    assert 0.8 <= sh[mode]["prod_of_r0"] <= 1.2, sh
assert s["inference"]["infer-tgs"]["p50"] > 0, s["inference"]
EOF
}

pack_here() {
  "$here/pack.sh" --out "$tmp/pack2" || return 1
  [[ -f "$tmp/pack2/MANIFEST" && -x "$tmp/pack2/bin/tgs-controller" && -f "$tmp/pack2/lib/tgs/libtgs.so" ]] || return 1
  compgen -G "$tmp/pack2/lib/deps/libyaml-cpp*" >/dev/null
}

cd "$repo"
check "bash -n" shell_syntax
if command -v shellcheck >/dev/null; then check "shellcheck" shell_lint; else echo "SKIP  shellcheck (not installed)"; fi
check "py_compile" py_compile
check "selftest.py" python3 "$here/selftest.py"
if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  check "nvcc launch_bench.cu" compile_cuda
else
  echo "SKIP  nvcc launch_bench.cu (no nvcc)"
fi
check "run.sh --dry-run --bundle" dry_run
if [[ -x "$repo/.gpu-pack/bin/tgs-controller" || -x "$tmp/pack/bin/tgs-controller" ]]; then
  check "safety rule 1: unified memory only for gv-um-managed" policy_guard
else
  echo "SKIP  safety rule 1 policy check (no pack and no build/)"
fi
if [[ -x "$repo/.gpu-pack/bin/tgs-controller" || -x "$tmp/pack/bin/tgs-controller" ]]; then
  check "run.sh --fake-gpu (share, infer; ~1 min)" fake_gpu_run
else
  echo "SKIP  run.sh --fake-gpu (no pack and no build/)"
fi
if [[ -x "$repo/build/bin/tgs-controller" ]]; then check "pack.sh" pack_here; else echo "SKIP  pack.sh (no build/)"; fi
echo "$passed passed, $failed failed"
((failed == 0))
