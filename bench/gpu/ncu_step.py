#!/usr/bin/env python3
"""Per-kernel device time of one decode step, from an ncu CSV of `ignis_gpu_bench`.

On the GPU machine (repository root, binaries unpacked as by scripts/gpu-check.sh):
  ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \\
      /tmp/ignis-gpu/bin/ignis_gpu_bench --decode-steps 2 --requests 0 --batch 1 > step.csv
  python3 bench/gpu/ncu_step.py step.csv
Each kernel is timed alone (ncu serializes them), so the sum is above the graph step time, which
also overlaps kernels through programmatic dependent launch. The step is the kernels between the
last two argmax launches (the argmax ends every greedy step). Prints one row per kernel and grid:
total us, launches, us per launch.
"""
import csv
import sys
from collections import defaultdict

UNIT_US = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}


def rows(path):
    hdr = None
    with open(path, newline="") as f:
        for r in csv.reader(f):
            if r and r[0] == "ID":
                hdr = r
            elif hdr and len(r) == len(hdr):
                yield dict(zip(hdr, r))


def main(path):
    data = [d for d in rows(path) if d.get("Metric Name") == "gpu__time_duration.sum"]
    ends = [i for i, d in enumerate(data) if "argmax" in d["Kernel Name"]]
    if len(ends) < 2:
        sys.exit(f"{path}: fewer than two argmax launches (no complete decode step)")
    step = data[ends[-2] + 1 : ends[-1] + 1]
    agg = defaultdict(lambda: [0, 0.0])
    for d in step:
        name = d["Kernel Name"].split("(")[0].replace("void ", "").replace("ignis::", "").replace("<unnamed>::", "")
        key = f"{name[:60]} grid {d['Grid Size']}"
        us = float(d["Metric Value"].replace(",", "")) * UNIT_US[d["Metric Unit"]]
        agg[key][0] += 1
        agg[key][1] += us
    total = sum(t for _, t in agg.values())
    print(f"{'total us':>10} {'calls':>6} {'us/call':>9}  kernel")
    for key, (n, t) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        print(f"{t:10.1f} {n:6d} {t / n:9.2f}  {key}")
    print(f"{total:10.1f} {len(step):6d} {'':>9}  sum of the step's kernels")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
