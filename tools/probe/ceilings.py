#!/usr/bin/env python3
"""Measures the GPU's ceilings in one process (random data, events, median of 20 after warm-up):
device-to-device copy (bytes read + written), bf16 GEMM 8192^3, fp8 e4m3 GEMM 8192^3 (torch._scaled_mm,
per-tensor and row-wise scales). Prints one table. Runs on the GPU machine (torch)."""
import torch


def time_ms(fn, iters=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def main():
    dev = torch.cuda.get_device_name()
    n = 1 << 30  # 1 GiB copy
    src = torch.randint(0, 255, (n,), dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src))
    print(f"{dev}")
    print(f"copy_GBps        {2 * n / ms / 1e6:10.1f}")
    N = 8192
    a = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    ms = time_ms(lambda: a @ b)
    print(f"bf16_gemm_TFLOPs {2 * N ** 3 / ms / 1e9:10.1f}")
    a8 = a.to(torch.float8_e4m3fn)
    b8 = b.to(torch.float8_e4m3fn).t().contiguous().t()
    one = torch.tensor(1.0, device="cuda")
    ms = time_ms(lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
    print(f"fp8_gemm_TFLOPs  {2 * N ** 3 / ms / 1e9:10.1f}  (per-tensor scales)")
    sa = torch.rand(N, 1, device="cuda") + 0.5
    sb = torch.rand(1, N, device="cuda") + 0.5
    try:
        ms = time_ms(lambda: torch._scaled_mm(a8, b8, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16))
        print(f"fp8_rowwise_TFLOPs {2 * N ** 3 / ms / 1e9:8.1f}  (row-wise scales)")
    except Exception as e:  # noqa: BLE001
        print("fp8 row-wise scaled_mm failed:", e)


if __name__ == "__main__":
    main()
