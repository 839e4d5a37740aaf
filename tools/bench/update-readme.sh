#!/usr/bin/env bash
# Runs tgs-bench-sharing in full and puts its tables into README.md between
# the markers <!-- tgs-bench-sharing:begin --> and <!-- tgs-bench-sharing:end -->,
# with the date, and its timeline plot into docs/bench/sharing.png (CSV beside it).
#   tools/bench/update-readme.sh [BUILD_DIR]   (default: build)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build}"
bench="$build/bin/tgs-bench-sharing"
[[ -x "$bench" ]] || { echo "update-readme: $bench is missing (cmake --build $build --target tgs-bench-sharing)" >&2; exit 1; }
mkdir -p "$repo/docs/bench"
tables="$(mktemp)"
trap 'rm -f "$tables" "$tables.new"' EXIT
"$bench" --csv "$repo/docs/bench/sharing.csv" --plot "$repo/docs/bench/sharing.png" --markdown "$tables"
# The shim's cost per launch, from its own benchmark (Google Benchmark), when built.
overhead="$build/bin/tgs-bench-shim-overhead"
if [[ -x "$overhead" ]]; then
  {
    echo
    echo "What the shim adds per call (\`tgs-bench-shim-overhead\`, local accounting; details in *Per call* below):"
    echo
    echo '```'
    "$overhead" --benchmark_min_time=0.2 2>/dev/null | sed -n '/^shim overhead/,$p'
    echo '```'
  } >>"$tables"
fi
{
  echo "<!-- tgs-bench-sharing:begin -->"
  echo "Latest run: $(date -u +%Y-%m-%d), $(nproc)-core machine, \`tools/bench/update-readme.sh\` (generated; edit the benchmark, not this block)."
  echo
  cat "$tables"
  echo
  echo "![Throughput over time](docs/bench/sharing.png)"
  echo "<!-- tgs-bench-sharing:end -->"
} >"$tables.new"
python3 - "$repo/README.md" "$tables.new" <<'PY'
import sys
readme, block = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(readme).read()
begin, end = "<!-- tgs-bench-sharing:begin -->", "<!-- tgs-bench-sharing:end -->"
if begin not in text or end not in text:
    sys.exit("update-readme: README.md has no " + begin + " ... " + end + " block")
head, rest = text.split(begin, 1)
tail = rest.split(end, 1)[1]
open(readme, "w").write(head + block + tail)
PY
echo "update-readme: README.md and docs/bench/sharing.{png,csv} updated"
