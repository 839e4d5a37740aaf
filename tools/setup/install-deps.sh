#!/usr/bin/env bash
# Installs the Debian packages TGS needs to build, test and run its demo.
# Idempotent: packages already present are skipped without touching apt's lists.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libyaml-cpp-dev prometheus-cpp-dev nlohmann-json3-dev prometheus gnuplot-nox
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libbpf-dev bpftool clang llvm libclang-rt-14-dev libelf-dev zlib1g-dev
  runc
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
