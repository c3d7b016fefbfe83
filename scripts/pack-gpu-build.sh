#!/usr/bin/env bash
# Builds the CUDA binaries HERE (Debian, nvcc 13.0) and packs them for the GPU machine, which
# lacks fmt/openblas/gtest dev packages: build-gpu/ignis-gpu.tar.xz holds bin/ (test and bench
# binaries) and lib/ (the non-system shared libraries they need; CUDA's own cuBLAS/cudart come from the GPU machine).
# The object tree stays in build-gpu-tree (not carried). Then carry `build-gpu` to the GPU machine
# and run scripts/gpu-check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${TREE:-build-gpu-tree}  # TREE=build packs from the main build folder
OUTD=build-gpu
JOBS=${JOBS:-2}
cmake -S . -B "$TREE" -G Ninja -DIGNIS_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
TARGETS=(ignis test_gpu_kernels test_gpu_model ignis_gpu_bench ignis_gpu_logits ignis_attention_bench ignis_gemm_bench)
cmake --build "$TREE" --target "${TARGETS[@]}" -j "$JOBS"
rm -rf "$OUTD"
mkdir -p "$OUTD/bin" "$OUTD/lib"
for b in test_gpu_kernels test_gpu_model; do cp "$TREE/tests/gpu/$b" "$OUTD/bin/"; done
for b in ignis ignis_gpu_bench ignis_gpu_logits ignis_attention_bench ignis_gemm_bench; do [ -f "$TREE/bin/$b" ] && cp "$TREE/bin/$b" "$OUTD/bin/"; done
strip --strip-debug "$OUTD"/bin/* 2>/dev/null || true
# Shared libraries outside glibc/libstdc++/CUDA: copy them next to the binaries.
for b in "$OUTD"/bin/*; do
  ldd "$b" | awk '/=>/ {print $3}' | while read -r lib; do
    [ -f "$lib" ] || continue
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) continue ;;
      libcuda.so*|libcudart.so*|libcublas*.so*|libnvidia*) continue ;;
    esac
    cp -L -n "$lib" "$OUTD/lib/" 2>/dev/null || true
  done
done
# openblas alone is ~36 MB: ship bin/ and lib/ as one xz tarball (the carry limit is 64 MiB
# together with the working tree); scripts/gpu-check.sh unpacks it into /tmp/ignis-gpu.
tar -C "$OUTD" -cJf "$OUTD/ignis-gpu.tar.xz" bin lib
rm -rf "$OUTD/lib" "$OUTD/bin"
echo "packed $(du -sh "$OUTD" | cut -f1) into $OUTD:"
ls -la "$OUTD"; tar -tJvf "$OUTD/ignis-gpu.tar.xz"
