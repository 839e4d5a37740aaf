#!/usr/bin/env bash
# Builds each libFuzzer target in tests/fuzz with clang (ASan+UBSan) and runs
# it for a bounded time. Used by tools/setup/test.sh; exits non-zero on a
# crash, a leak or a sanitizer report.
#   tests/fuzz/run.sh [seconds per target, default 30] [build dir, default build-fuzz]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-30}"
out="${2:-$repo/build-fuzz}"
mkdir -p "$out"

# target name -> its sources (the fuzz entry point plus what it exercises)
declare -A targets=(
  [protocol_decode_fuzz]="tests/fuzz/protocol_decode_fuzz.cc shim/protocol/messages.cc"
)

for name in "${!targets[@]}"; do
  srcs=()
  for s in ${targets[$name]}; do srcs+=("$repo/$s"); done
  echo "fuzz: building $name"
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$repo" "${srcs[@]}" -o "$out/$name"
  mkdir -p "$out/$name.corpus"
  echo "fuzz: running $name for ${seconds}s"
  status=0
  "$out/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/$name-" "$out/$name.corpus" >"$out/$name.log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|SUMMARY|ERROR" "$out/$name.log" || true
  if ((status != 0)); then
    echo "fuzz: $name failed (exit $status); log: $out/$name.log"
    tail -40 "$out/$name.log"
    exit 1
  fi
done
echo "fuzz: all targets ran clean"
