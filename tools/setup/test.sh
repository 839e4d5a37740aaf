#!/usr/bin/env bash
# The README's test command. From any directory, on a fresh Debian 12 machine:
#   1. installs the build dependencies (tools/setup/install-deps.sh);
#   2. configures and builds build/ (RelWithDebInfo) and runs every test
#      (unit + integration) with ctest;
#   3. builds build-asan/ (ASan+UBSan) and build-tsan/ (TSan) and runs the
#      tests labelled "unit" there.
# Prints a summary and exits non-zero if any step failed.
#
#   4. fuzzes the shim<->controller protocol decoder (tests/fuzz/run.sh).
# Knobs: TGS_JOBS (build parallelism, default nproc), TGS_TEST_JOBS (ctest
# parallelism, default 2), TGS_SKIP_SANITIZERS=1 (skip step 3),
# TGS_FUZZ_SECONDS (default 30).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
jobs="${TGS_JOBS:-$(nproc)}"
test_jobs="${TGS_TEST_JOBS:-2}"

summary=()
failed=0
step() {  # step <name> <command...>: runs it, records PASS/FAIL and the time
  local name="$1"; shift
  local start=$SECONDS
  echo
  echo "==> ${name}"
  if "$@"; then
    summary+=("PASS  ${name} ($((SECONDS - start)) s)")
    return 0
  fi
  summary+=("FAIL  ${name} ($((SECONDS - start)) s)")
  failed=1
  return 1
}
print_summary() {
  echo
  echo "==================== TGS test summary ===================="
  printf '%s\n' "${summary[@]}"
  if ((failed)); then echo "RESULT: FAILED"; else echo "RESULT: all passed"; fi
  echo "==========================================================="
}

if ! step "install dependencies" "$repo/tools/setup/install-deps.sh"; then
  print_summary
  exit 1
fi

# Main build: everything, all tests.
if step "configure build/" cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON &&
  step "build build/ (-j${jobs})" cmake --build "$repo/build" -j "$jobs"; then
  step "ctest build/ (all tests)" ctest --test-dir "$repo/build" --output-on-failure --no-tests=error -j "$test_jobs"
fi

# Sanitizer builds: the unit tests only (the process-level tests and their
# client programs are not built there). TGS_SANITIZER_TARGETS names the
# targets to build; "all" builds the whole tree.
if [[ "${TGS_SKIP_SANITIZERS:-0}" != 1 ]]; then
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  for san in address thread; do
    case "$san" in address) dir="$repo/build-asan" ;; thread) dir="$repo/build-tsan" ;; esac
    targets=()
    for t in ${TGS_SANITIZER_TARGETS:-tgs_shim_unit_tests tgs_policy_tests tgs_rate_control_tests tgs_memory_and_metrics_tests tgs_daemon_unit_tests tgs_container_runtime_unit_tests tgs_device_plugin_unit_tests}; do
      [[ "$t" == all ]] || targets+=(--target "$t")
    done
    if step "configure $(basename "$dir") (TGS_SANITIZE=${san})" \
      cmake -S "$repo" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DTGS_SANITIZE="$san" &&
      step "build $(basename "$dir")" cmake --build "$dir" -j "$jobs" "${targets[@]}"; then
      step "ctest $(basename "$dir") -L unit" ctest --test-dir "$dir" -L unit --output-on-failure --no-tests=error \
        -j "$test_jobs"
    fi
  done
fi

# The protocol decoder faces untrusted input: fuzz it for a bounded time.
step "fuzz (libFuzzer, ${TGS_FUZZ_SECONDS:-30} s per target)" "$repo/tests/fuzz/run.sh" "${TGS_FUZZ_SECONDS:-30}" "$repo/build-fuzz"

print_summary
exit "$failed"
