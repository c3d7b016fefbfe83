// The shipped chat demo (models/chat-demo, tools/train/train_chat.py): its chat template renders
// the training script's prompts token for token, greedy answers equal PyTorch's, and each answer is
// a Python code block that defines the function the user asked for.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "demo_engine.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace ignis;

TEST(ChatDemo, TemplateAndGreedyAnswersMatchPyTorch) {
  fs::path dir = fs::path(IGNIS_SOURCE_DIR) / "models" / "chat-demo";
  if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << dir << " has no tokenizer.json: run scripts/fetch-assets.sh";
  nlohmann::json golden = nlohmann::json::parse(std::ifstream(dir / "eval_golden.json"));
  ASSERT_GE(golden["answers"].size(), 4u);
  EXPECT_LT(golden["heldout_loss"].get<double>(), golden["heldout_loss_base"].get<double>());
  auto tok = std::shared_ptr<const Tokenizer>(Tokenizer::load(dir));
  ChatTemplate tmpl = ChatTemplate::from_model_dir(dir.string());
  auto engine = test::cpu_engine(dir, tok);
  const size_t kCompare = 48;  // tokens compared exactly (fp32 CPU vs fp32 PyTorch from bf16 weights)
  for (auto& a : golden["answers"]) {
    std::string request = a["request"].get<std::string>();
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array({{{"role", "user"}, {"content", request}}});
    std::string prompt = tmpl.apply(msgs, /*add_generation_prompt=*/true);
    EXPECT_EQ(prompt.rfind("<s>[INST] ", 0), 0u) << prompt;
    std::vector<int32_t> ids = tok->encode(prompt, /*add_special_tokens=*/false);
    ASSERT_EQ(ids, a["prompt_ids"].get<std::vector<int32_t>>()) << "template + tokenizer differ from training for " << request;
    std::vector<int32_t> want = a["greedy_ids"].get<std::vector<int32_t>>();
    if (want.size() > kCompare) want.resize(kCompare);
    std::string text;
    std::vector<int32_t> got = test::greedy(*engine, ids, int(want.size()), &text);
    EXPECT_EQ(got, want) << "greedy answer differs from PyTorch for " << request;
    // The function the user named: `name(` in the request, "def name(" in the answer.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(request, m, std::regex("`?([a-z_]+)\\(")));
    // The template puts a space before the answer ("[/INST] ```python"); the incremental detokenizer
    // keeps it, as vLLM's does (transformers' decode of the new ids alone strips it).
    ASSERT_FALSE(text.empty());
    if (text[0] == ' ') text.erase(0, 1);
    EXPECT_EQ(text.rfind("```python\ndef " + m[1].str() + "(", 0), 0u) << text;
  }
}
