// ignis model/cpu: the linear layer y = x W^T (+ b) with W stored as Hugging Face does,
// [out_features, in_features] row-major (reference op, OpenBLAS sgemm / sgemv).
//
// Threading is ignis's, not OpenBLAS's: OpenBLAS runs single-threaded (set once, on first use) and
// a large product is split over output columns with parallel_for. OpenBLAS's own worker threads
// spin (sched_yield) for a long while after every call, which on a loaded machine (a server beside
// other processes, ctest -j) made a tiny model's decode step 10-20x slower; parallel_for's threads
// sleep between calls.
#pragma once

namespace ignis::cpu {

// y (m, n) = x (m, k) . w (n, k)^T + bias (n) (bias may be null).
void linear(float* y, const float* x, const float* w, const float* bias, int m, int n, int k);

}  // namespace ignis::cpu
