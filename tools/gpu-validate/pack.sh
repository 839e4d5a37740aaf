#!/usr/bin/env bash
# Packs what the real-GPU validation (run.sh) needs from a build on THIS
# machine into .gpu-pack/, so that the GPU machine, which has no yaml-cpp and
# cannot install anything, gets working x86-64 binaries:
#
#   .gpu-pack/lib/tgs/libtgs.so, libtgs-nvml.so   the shim (self-contained: static libstdc++)
#   .gpu-pack/bin/tgs-controller                   the node controller
#   .gpu-pack/lib/deps/                            its non-system shared libraries (ldd), e.g. libyaml-cpp
#   .gpu-pack/lib/compat/                          libstdc++/libgcc_s of this machine, used there only if
#                                                  the controller does not start with the system's own
#   .gpu-pack/bin/tgs-gv-launch-bench              the launch microbenchmark, if nvcc is here (run.sh
#                                                  prefers to compile it there, with the driver's nvcc)
#   .gpu-pack/MANIFEST                             commit, build type, glibc/libstdc++ needs, checksums
#
# Usage: tools/gpu-validate/pack.sh [--build DIR] [--out DIR] [--no-strip]
#   --build DIR  build tree to take the binaries from (default: build/; build it first with
#                cmake -S . -B build && cmake --build build)
#   --out DIR    where to pack (default: .gpu-pack/ in the repository, ignored by git)
#   --no-strip   keep debug information (the pack grows from ~7 MiB to ~25 MiB)
# Then carry .gpu-pack to the GPU machine and run tools/gpu-validate/run.sh there.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$repo/build"
out="$repo/.gpu-pack"
strip_debug=1
max_mib=48  # the device tool carries at most 64 MiB with the working tree

# Libraries every Linux image has (glibc and the loader). libstdc++ and
# libgcc_s are there too but may be older than this machine's: those go to
# compat/ instead of deps/.
base_libs_re='^(linux-vdso|linux-gate|ld-linux[^ ]*|libc|libm|libdl|libpthread|librt|libutil|libresolv|libanl|libnsl)\.so'
compat_libs_re='^(libstdc\+\+|libgcc_s)\.so'

die() { echo "pack.sh: $*" >&2; exit 1; }

parse_args() {
  while (($#)); do
    case "$1" in
      --build) build="$(cd "${2:?--build needs a directory}" && pwd)"; shift 2 ;;
      --out) out="${2:?--out needs a directory}"; shift 2 ;;
      --no-strip) strip_debug=0; shift ;;
      -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ "$(uname -m)" == x86_64 ]] || die "this machine is $(uname -m); the GPU machine is x86-64: pack on x86-64"
}

# copy_binary SRC DEST: copies, without debug information unless --no-strip.
copy_binary() {
  local src="$1" dest="$2"
  mkdir -p "$(dirname "$dest")"
  if ((strip_debug)) && command -v strip >/dev/null; then
    strip --strip-debug -o "$dest" "$src"
  else
    cp -L "$src" "$dest"
  fi
  chmod u+w "$dest"
}

# Non-system libraries of a binary, as "soname<TAB>path" lines.
dependencies() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $1 "\t" $3 }'
}

pack_controller() {
  local missing
  missing="$(ldd "$build/bin/tgs-controller" | grep 'not found' || true)"
  [[ -z "$missing" ]] || die "tgs-controller has unresolved libraries here:"$'\n'"$missing"
  copy_binary "$build/bin/tgs-controller" "$out/bin/tgs-controller"
  local soname path
  while IFS=$'\t' read -r soname path; do
    if [[ "$soname" =~ $base_libs_re ]]; then
      continue
    elif [[ "$soname" =~ $compat_libs_re ]]; then
      cp -L "$path" "$out/lib/compat/$soname"
    else
      echo "  dependency: $soname ($path)"
      copy_binary "$path" "$out/lib/deps/$soname"
    fi
  done < <(dependencies "$build/bin/tgs-controller")
}

# The microbenchmark, built here as a fallback for a GPU machine without nvcc:
# static CUDA runtime, Hopper machine code plus PTX for anything newer.
pack_launch_bench() {
  local nvcc
  nvcc="$(command -v nvcc || true)"
  [[ -n "$nvcc" ]] || nvcc=/usr/local/cuda/bin/nvcc
  if [[ ! -x "$nvcc" ]]; then
    echo "  (no nvcc here: run.sh will compile the launch benchmark on the GPU machine, or fall back to PyTorch)"
    return 0
  fi
  "$nvcc" -O2 -std=c++17 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
    -o "$out/bin/tgs-gv-launch-bench" "$repo/tools/gpu-validate/launch_bench.cu"
  echo "  launch benchmark: built with $("$nvcc" --version | tail -n1)"
}

# Highest versioned symbol a binary needs from glibc / libstdc++: what the GPU
# machine's libraries must provide (run.sh checks by starting the programs).
max_version() {
  objdump -T "$2" 2>/dev/null | grep -o "$1_[0-9.]*" | sort -u -V | tail -n1 || true
}

write_manifest() {
  local commit dirty=""
  commit="$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git -C "$repo" status --porcelain -- shim controller 2>/dev/null)" ]]; then
    dirty=" (with uncommitted changes in shim/ or controller/)"
  fi
  {
    echo "commit: ${commit}${dirty}"
    # shellcheck disable=SC1091  # the build machine's own description
    echo "packed: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -m)"
    echo "build: $build ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || echo '?'))"
    echo "strip: $([[ $strip_debug == 1 ]] && echo debug information removed || echo kept)"
    local f
    for f in lib/tgs/libtgs.so lib/tgs/libtgs-nvml.so bin/tgs-controller; do
      echo "needs: $f $(max_version GLIBC "$out/$f") $(max_version GLIBCXX "$out/$f")"
    done
    echo "files:"
    (cd "$out" && find . -type f ! -name MANIFEST -printf '%P\n' | sort | xargs sha256sum | sed 's/^/  /')
  } >"$out/MANIFEST"
}

main() {
  parse_args "$@"
  local f
  for f in lib/tgs/libtgs.so lib/tgs/libtgs-nvml.so bin/tgs-controller; do
    [[ -f "$build/$f" ]] || die "$build/$f is missing: build first (cmake -S . -B build && cmake --build build)"
  done
  echo "pack.sh: packing $build into $out"
  rm -rf "$out"
  mkdir -p "$out/lib/tgs" "$out/lib/deps" "$out/lib/compat" "$out/bin"
  copy_binary "$build/lib/tgs/libtgs.so" "$out/lib/tgs/libtgs.so"
  copy_binary "$build/lib/tgs/libtgs-nvml.so" "$out/lib/tgs/libtgs-nvml.so"
  pack_controller
  pack_launch_bench
  write_manifest
  # The packed controller must start here with only the packed libraries.
  LD_LIBRARY_PATH="$out/lib/deps" "$out/bin/tgs-controller" --help >/dev/null ||
    die "the packed tgs-controller does not start"
  local kib
  kib="$(du -sk "$out" | cut -f1)"
  ((kib < max_mib * 1024)) || die "the pack is $((kib / 1024)) MiB, over $max_mib MiB (try without --no-strip)"
  echo "pack.sh: $out is $((kib / 1024)) MiB ($kib KiB):"
  sed 's/^/  /' "$out/MANIFEST"
  echo "pack.sh: now carry .gpu-pack to the GPU machine and run tools/gpu-validate/run.sh OUTDIR there"
}

main "$@"
