#!/usr/bin/env bash
# The README's demo command: per-container GPU memory limits on a simulated GPU.
#
# From any directory, on a fresh Debian 12 machine: installs the build
# dependencies, builds build/, then runs
#   - container "demo" (TGS_MEMORY_LIMIT=4GiB on a simulated 16 GiB GPU): a
#     training job holding 3 GiB, in the background;
#   - a second process of the same container asking for 2 GiB: refused with
#     CUDA_ERROR_OUT_OF_MEMORY, because the container's budget is shared;
#   - a process of another container asking for 2 GiB: it has its own budget;
# and cleans up. Exits non-zero if anything did not behave as described.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$repo/build"
jobs="${TGS_JOBS:-$(nproc)}"

if [[ -t 1 ]]; then
  bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
  bold() { printf '\n%s\n' "$*"; }
fi
say() { printf '    %s\n' "$*"; }

bold "[setup] dependencies and build (build/)"
"$repo/tools/setup/install-deps.sh"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs" --target tgs_shim tgs_shim_nvml simgpu_cuda simgpu_nvml tgs-train-sim \
  tgs-test-client-linked >/dev/null
echo "build: ok"

libdir="$build/lib/tgs"
simdir="$build/lib/tgs/simgpu"
bindir="$build/bin"
state_dir="$(mktemp -d /tmp/tgs-demo-state.XXXXXX)"
shm="tgs-demo-$$"
logdir="$(mktemp -d /tmp/tgs-demo-logs.XXXXXX)"
trainer_pid=""

cleanup() {
  if [[ -n "$trainer_pid" ]] && kill -0 "$trainer_pid" 2>/dev/null; then
    kill "$trainer_pid" 2>/dev/null || true
    wait "$trainer_pid" 2>/dev/null || true
  fi
  rm -f "/dev/shm/$shm"
  rm -rf "$state_dir" "$logdir"
}
trap cleanup EXIT

# Runs a command as a process of container $1 with limit $2. This demo shows
# the shim's own accounting, so it points the shim at a controller socket that
# does not exist (a tgs-controller running on this host stays out of it).
in_container() {
  local id="$1" limit="$2"; shift 2
  env -i PATH=/usr/bin:/bin \
    LD_LIBRARY_PATH="$simdir" \
    LD_PRELOAD="$libdir/libtgs.so $libdir/libtgs-nvml.so" \
    TGS_SIM_SHM="$shm" TGS_SIM_MEMORY=16GiB \
    TGS_STATE_DIR="$state_dir" \
    TGS_CONTROLLER_SOCKET="$state_dir/no-controller.sock" \
    TGS_CONTAINER_ID="$id" TGS_MEMORY_LIMIT="$limit" \
    "$@"
}
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" | head -n1; }  # field <key> < RESULT line
gib() { awk -v b="$1" 'BEGIN { printf "%.2f GiB", b / 1073741824 }'; }

bold "[1/4] Container \"demo\" (limit 4 GiB on a simulated 16 GiB GPU) starts a training job holding 3 GiB"
say "LD_PRELOAD=libtgs.so TGS_CONTAINER_ID=demo TGS_MEMORY_LIMIT=4GiB tgs-train-sim --mem 3GiB --duration 60"
in_container demo 4GiB "$bindir/tgs-train-sim" --mem 3GiB --duration 60 >"$logdir/train.out" 2>"$logdir/train.err" &
trainer_pid=$!
for _ in $(seq 1 300); do
  grep -q 'iters/s=' "$logdir/train.out" 2>/dev/null && break
  if ! kill -0 "$trainer_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if ! grep -q 'iters/s=' "$logdir/train.out"; then
  echo "demo: the training job did not start; its output:" >&2
  cat "$logdir/train.out" "$logdir/train.err" >&2
  exit 1
fi
say "training: $(grep 'iters/s=' "$logdir/train.out" | tail -n1)"

bold "[2/4] What a process of container \"demo\" sees (cuMemGetInfo through the shim)"
view="$(in_container demo 4GiB "$bindir/tgs-test-client-linked" meminfo | grep '^RESULT meminfo')"
total="$(field total <<<"$view")"
free="$(field free <<<"$view")"
say "total $(gib "$total")  free $(gib "$free")   (the GPU itself has 16 GiB; the container is told 4 GiB)"

bold "[3/4] A second job of container \"demo\" asks for 2 GiB"
set +e
in_container demo 4GiB "$bindir/tgs-train-sim" --mem 2GiB --duration 2 >"$logdir/second.out" 2>"$logdir/second.err"
second_rc=$?
set -e
sed 's/^/    | /' "$logdir/second.out" "$logdir/second.err" | tail -n 5
if ((second_rc == 2)); then
  say "=> refused: out of memory (exit status 2). 3 GiB + 2 GiB would exceed the container's 4 GiB."
else
  echo "demo: expected the second job to be refused (exit status 2), got $second_rc" >&2
  exit 1
fi

bold "[4/4] A job of another container (\"other\", also 4 GiB) asks for 2 GiB on the same GPU"
set +e
in_container other 4GiB "$bindir/tgs-train-sim" --mem 2GiB --duration 2 >"$logdir/other.out" 2>"$logdir/other.err"
other_rc=$?
set -e
tail -n 1 "$logdir/other.out" | sed 's/^/    | /'
if ((other_rc == 0)); then
  say "=> runs: each container has its own budget."
else
  echo "demo: expected container \"other\" to run (exit status 0), got $other_rc" >&2
  cat "$logdir/other.err" >&2
  exit 1
fi

bold "[done] stopping the training job and cleaning up"
kill "$trainer_pid" 2>/dev/null || true
wait "$trainer_pid" 2>/dev/null || true
trainer_pid=""
tail -n 1 "$logdir/train.out" | sed 's/^/    | /'
echo
echo "demo: ok"
