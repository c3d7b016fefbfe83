// The demo models: greedy continuations equal PyTorch's (from the training script) and look like
// Python (brackets balanced, indented lines, keywords).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "demo_engine.h"

namespace fs = std::filesystem;
using namespace ignis;

namespace {

const fs::path kModels = fs::path(IGNIS_SOURCE_DIR) / "models";

// True when every closing bracket closes the innermost open one (the text may end with some open).
bool brackets_consistent(const std::string& s) {
  std::string stack;
  bool in_str = false;
  char quote = 0;
  for (char c : s) {
    if (in_str) {
      if (c == quote) in_str = false;
      continue;
    }
    if (c == '\'' || c == '"') {
      in_str = true;
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      stack.push_back(c);
    } else if (c == ')' || c == ']' || c == '}') {
      char want = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (stack.empty() || stack.back() != want) return false;
      stack.pop_back();
    } else if (c == '\n') {
      in_str = false;  // strings do not span lines here (docstrings aside)
    }
  }
  return true;
}

void check_model(const std::string& name, bool expect_python_shape) {
  fs::path dir = kModels / name;
  if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << dir << " has no tokenizer.json: run scripts/fetch-assets.sh";
  nlohmann::json golden = nlohmann::json::parse(std::ifstream(dir / "eval_golden.json"));
  auto tok = std::shared_ptr<const Tokenizer>(Tokenizer::load(dir));
  auto engine = test::cpu_engine(dir, tok);
  for (auto& c : golden["completions"]) {
    std::vector<int32_t> prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> want = c["greedy_ids"].get<std::vector<int32_t>>();
    // The tokenizer must give the same prompt ids as HF tokenizers did in training.
    std::vector<int32_t> enc = tok->encode(c["prompt"].get<std::string>(), true);
    EXPECT_EQ(enc, prompt) << name << ": prompt tokenization differs";
    std::string text;
    std::vector<int32_t> got = test::greedy(*engine, prompt, int(want.size()), &text);
    EXPECT_EQ(got, want) << name << ": greedy continuation differs from PyTorch for " << c["prompt"];
    if (expect_python_shape) {
      std::string full = c["prompt"].get<std::string>() + text;
      EXPECT_TRUE(brackets_consistent(full)) << full;
      EXPECT_GE(std::count(full.begin(), full.end(), '\n'), 5) << full;
      EXPECT_TRUE(full.find("\n    ") != std::string::npos) << "no indented line:\n" << full;
      EXPECT_TRUE(full.find("return") != std::string::npos || full.find("self") != std::string::npos ||
                  full.find("def ") != std::string::npos)
          << full;
    }
  }
}

}  // namespace

TEST(Demo, DemoModelGreedyMatchesPyTorchAndLooksLikePython) { check_model("demo", true); }
TEST(Demo, DraftModelGreedyMatchesPyTorch) { check_model("demo-draft", false); }

TEST(Demo, BracketCheckerCatchesMismatch) {
  EXPECT_TRUE(brackets_consistent("f(a[1], {'x': (2)})\n"));
  EXPECT_FALSE(brackets_consistent("f(a[1)]\n"));
  EXPECT_TRUE(brackets_consistent("print(')')\n"));
}
