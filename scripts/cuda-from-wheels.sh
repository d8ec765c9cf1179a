#!/usr/bin/env bash
# Builds the `cuda` feature on a machine without a CUDA toolkit or GPU (like this project's CI
# machines), so the binary can be carried to a GPU machine with CUDA 13 libraries.
#
#   scripts/cuda-from-wheels.sh /tmp/cw          # once: toolkit pieces + link stubs + env.sh
#   source /tmp/cw/env.sh
#   cargo build --release -p nf-core --features cuda --example gpu_check   # ~20 min on 2 cores
#   cargo build --release -p xtask --features cuda                         # the runner
#
# What it does:
# - nvcc, cicc, headers and CCCL come from NVIDIA's CUDA 13.0 PyPI wheels (candle-kernels
#   compiles its .cu files to PTX with them);
# - candle links cudarc with `dynamic-linking`, so the link needs libcuda, libcublas,
#   libcublasLt, libcurand and libnvrtc. They are replaced by empty stub libraries with the real
#   SONAMEs, holding every symbol cudarc declares; at run time the GPU machine's real libraries
#   (driver + the PyTorch pip CUDA 13 libs) are found through LD_LIBRARY_PATH:
#   LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:/usr/local/nvidia/lib64
set -euo pipefail
dest="${1:-/tmp/cw}"
mkdir -p "$dest/cuda"
cd "$dest"
python3 -m pip download -q --no-deps --only-binary=:all: -d . \
  "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*"
for w in nvidia_*.whl; do unzip -q -o "$w" -d cuda; done
root="$dest/cuda/nvidia/cu13"
ln -sf libcudart.so.13 "$root/lib/libcudart.so"
mkdir -p "$root/lib/stubs" "$dest/stubsrc"
cudarc=$(ls -d "$HOME"/.cargo/registry/src/*/cudarc-0.19.* 2>/dev/null | head -1)
if [ -z "$cudarc" ]; then
  echo "cudarc sources not found: run \`cargo fetch\` in the repository first" >&2
  exit 1
fi
# lib name : cudarc module : SONAME : symbol prefix (the functions inside cudarc's `extern "C"` blocks)
for spec in cuda:driver:libcuda.so.1:'cu[A-Z]' cublas:cublas:libcublas.so.13:'cublas[A-Z]' cublasLt:cublaslt:libcublasLt.so.13:'cublasLt' curand:curand:libcurand.so.10:'curand' nvrtc:nvrtc:libnvrtc.so.13:'nvrtc'; do
  IFS=: read -r lib module soname prefix <<<"$spec"
  { grep -ohE '\bfn [A-Za-z_][A-Za-z0-9_]*\(' "$cudarc/src/$module/sys/"*.rs || true; } | sed -E 's/fn ([A-Za-z0-9_]+)\(/\1/' | grep -E "^$prefix" | { [ "$lib" = cublas ] && grep -v '^cublasLt' || cat; } | sort -u | sed 's/.*/void &(void){}/' > "$dest/stubsrc/$lib.c"
  gcc -shared -fPIC -o "$root/lib/stubs/lib$lib.so" -Wl,-soname,"$soname" "$dest/stubsrc/$lib.c"
  ln -sf "lib$lib.so" "$root/lib/stubs/$soname"
done
cat > "$dest/env.sh" <<ENV
export CUDA_HOME=$root
export CUDA_PATH=\$CUDA_HOME CUDA_ROOT=\$CUDA_HOME
export NVCC=\$CUDA_HOME/bin/nvcc
export PATH=\$CUDA_HOME/bin:\$PATH
export CUDA_COMPUTE_CAP=90
export CARGO_TARGET_DIR=/work/target-cuda
export CUDAFORGE_THREADS=2
ENV
"$root/bin/nvcc" --version | tail -1
echo "ready: source $dest/env.sh"
