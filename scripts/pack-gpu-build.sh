#!/usr/bin/env bash
# Builds the CUDA binaries HERE (Debian, nvcc 13.0) and packs them for the GPU machine, which
# lacks fmt/openblas/gtest dev packages: build-gpu/ignis-gpu.tar.xz holds bin/ (test and bench
# binaries) and lib/ (the non-system shared libraries they need; CUDA's own cuBLAS/cudart come from the GPU machine).
# The object tree stays in build-gpu-tree (not carried). Then carry `build-gpu` to the GPU machine
# and run scripts/gpu-check.sh there. EXTRA_TARGETS="ignis_gpu_bench" adds that benchmark (the carried
# tree is limited to 64 MiB with the repository, which holds ~53 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${TREE:-build-gpu-tree}  # TREE=build packs from the main build folder
OUTD=build-gpu
JOBS=${JOBS:-2}
cmake -S . -B "$TREE" -G Ninja -DIGNIS_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
TARGETS=(ignis test_gpu_all test_gpu_int ${EXTRA_TARGETS:-} ignis_gpu_logits ignis_attention_bench ignis_gemm_bench)
# ONLY="ignis": pack just these binaries (a call that carries the demo models has ~16 MB left)
[ -n "${ONLY:-}" ] && TARGETS=($ONLY)
cmake --build "$TREE" --target "${TARGETS[@]}" -j "$JOBS"
rm -rf "$OUTD"
mkdir -p "$OUTD/bin" "$OUTD/lib"
for b in "${TARGETS[@]}"; do
  if [ "$b" = test_gpu_all ]; then cp "$TREE/tests/gpu/test_gpu_all" "$OUTD/bin/"  # every GPU test (tests/gpu/CMakeLists.txt)
  elif [ -f "$TREE/bin/$b" ]; then cp "$TREE/bin/$b" "$OUTD/bin/"
  else find "$TREE/tests" -name "$b" -type f -perm -u+x -exec cp {} "$OUTD/bin/" \; ; fi  # other test binaries (test_gpu_int)
done
strip --strip-debug "$OUTD"/bin/* 2>/dev/null || true
# Shared libraries outside glibc/libstdc++/CUDA: copy them next to the binaries.
for b in "$OUTD"/bin/*; do
  ldd "$b" | awk '/=>/ {print $3}' | while read -r lib; do
    [ -f "$lib" ] || continue
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) continue ;;
      libcuda.so*|libcudart.so*|libcublas*.so*|libnvidia*) continue ;;
      libnccl.so*) continue ;;  # 218 MB; the GPU machine has it (torch's nvidia-nccl wheel: scripts/gpu-libpath.sh)
    esac
    cp -L -n "$lib" "$OUTD/lib/" 2>/dev/null || true
  done
done
# openblas alone is ~36 MB: ship bin/ and lib/ as one xz tarball (the carry limit is 64 MiB
# together with the working tree); scripts/gpu-check.sh unpacks it into /tmp/ignis-gpu.
tar -C "$OUTD" -cf - bin lib | xz -9e -T2 > "$OUTD/ignis-gpu.tar.xz"  # -9e: a 64 MB window shares the binaries' common code
rm -rf "$OUTD/lib" "$OUTD/bin"
echo "packed $(du -sh "$OUTD" | cut -f1) into $OUTD:"
ls -la "$OUTD"; tar -tJvf "$OUTD/ignis-gpu.tar.xz"
