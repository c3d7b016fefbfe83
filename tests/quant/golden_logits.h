// The PyTorch logit goldens of tools/golden/make_fp8_models.py and make_int4.py share one layout:
// DIR/MANIFEST.json lists folders; each holds a checkpoint, golden.json (vocab_size, logits_file,
// sequences [{tokens, logits_offset}]) and the fp32 logits. run_goldens loads every folder on the CPU
// backend, runs all its sequences in one flat batch and hands each sequence's logits and reference
// to the test's check.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ignis::golden {

struct Sequence {
  int index = 0;
  size_t tokens = 0;
  int vocab = 0;
  const float* got = nullptr;  // tokens x vocab, ignis
  std::vector<float> ref;      // tokens x vocab, PyTorch
};

// Relative L2 error of got against ref over n values.
double rel_l2(const float* got, const float* ref, size_t n);

struct Result {
  int checked = 0;  // folders run
  int missing = 0;  // folders of the manifest that are absent
};

// check(folder name, what the model's quantization is, sequence) for every sequence of every folder.
Result run_goldens(const std::filesystem::path& dir,
                   const std::function<void(const std::string&, const std::string&, const Sequence&)>& check);

}  // namespace ignis::golden
