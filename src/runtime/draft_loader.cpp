#include "runtime/draft_loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "model/config.h"
#include "model/cpu_model.h"
#include "spec/eagle.h"
#include "spec/medusa.h"
#include "tokenizer/tokenizer.h"
#ifdef IGNIS_HAVE_CUDA
#include "cuda/cuda_model.h"
#include "cuda/medusa_heads.h"
#endif

namespace ignis {

namespace fs = std::filesystem;

void check_draft_tokenizer(const fs::path& target_dir, const ModelConfig& target, const fs::path& draft_dir,
                           const ModelConfig& draft) {
  const std::string t = target_dir.string(), d = draft_dir.string();
  IGNIS_CHECK(target.vocab_size == draft.vocab_size,
              "--speculative-model {}: vocab_size {} differs from the target {}'s {}; the draft must share the "
              "target's tokenizer",
              d, draft.vocab_size, t, target.vocab_size);
  IGNIS_CHECK(target.bos_token_id == draft.bos_token_id && target.eos_token_ids == draft.eos_token_ids,
              "--speculative-model {}: its bos/eos token ids differ from the target {}'s; the draft must share the "
              "target's tokenizer",
              d, t);
  const bool th = fs::exists(target_dir / "tokenizer.json"), dh = fs::exists(draft_dir / "tokenizer.json");
  if (!th || !dh) {
    if (th != dh)
      IGNIS_LOG(Warn, "--speculative-model {}: only one of the two folders has tokenizer.json; checked the config's "
                "vocabulary size and special ids only", d);
    return;
  }
  auto tt = Tokenizer::load(target_dir), dt = Tokenizer::load(draft_dir);
  IGNIS_CHECK(tt->vocab_size() == dt->vocab_size() && tt->bos_id() == dt->bos_id() && tt->eos_id() == dt->eos_id(),
              "--speculative-model {}: its tokenizer (vocabulary {}, special tokens) differs from the target {}'s "
              "(vocabulary {})",
              d, dt->vocab_size(), t, tt->vocab_size());
  for (int32_t i = 0; i < tt->vocab_size(); ++i)
    IGNIS_CHECK(tt->id_to_piece(i) == dt->id_to_piece(i) && tt->is_special(i) == dt->is_special(i),
                "--speculative-model {}: token {} is '{}' there but '{}' in the target {}; the draft must share the "
                "target's tokenizer",
                d, i, dt->id_to_piece(i), tt->id_to_piece(i), t);
}

namespace {

// Blocks of the shared pool once every block id holds target and draft KV.
int shared_kv_blocks(const Model& target, const Model& draft, int target_kv_blocks, const ModelLoadOptions& opt,
                     int kv_block_size, const fs::path& draft_dir) {
#ifdef IGNIS_HAVE_CUDA
  if (std::string(target.backend_name()) == "cuda") {
    // The draft's weights took device memory after the target's suggestion was made: recount.
    const auto* tc = dynamic_cast<const cuda::CudaModel*>(&target);
    const auto* dc = dynamic_cast<const cuda::CudaModel*>(&draft);
    IGNIS_CHECK(tc && dc, "--speculative-model: target and draft must both be CUDA models");
    const int64_t tb = tc->kv_bytes_per_block(kv_block_size), db = dc->kv_bytes_per_block(kv_block_size);
    const int64_t blocks = int64_t(tc->kv_blocks_for_fraction(opt.kv_cache_fraction, kv_block_size)) * tb / (tb + db);
    const int n = int(std::max<int64_t>(0, blocks));
    IGNIS_CHECK(n > 0, "{}: no GPU memory left for the KV cache of target and draft", draft_dir.string());
    return n;
  }
#endif
  (void)opt;
  (void)kv_block_size;
  (void)draft_dir;
  const int64_t tb = target.config().kv_bytes_per_token(DType::F32), db = draft.config().kv_bytes_per_token(DType::F32);
  return int(std::max<int64_t>(16, int64_t(target_kv_blocks) * tb / std::max<int64_t>(1, tb + db)));
}

}  // namespace

LoadedDraft load_draft_model(const fs::path& draft_dir, const fs::path& target_dir, const Model& target,
                             int target_kv_blocks, const ModelLoadOptions& opt, int kv_block_size) {
  ModelLoadOptions o = opt;
  o.device = target.backend_name();  // "cpu" | "cuda": the target's device
  o.tensor_parallel = o.pipeline_parallel = 1;  // the draft runs on one rank beside a parallel target
  IGNIS_CHECK(o.device == "cpu" || o.device == "cuda", "--speculative-model: unsupported target backend '{}'",
              o.device);
  LoadedModel lm = load_model(draft_dir, o, kv_block_size);
  check_draft_tokenizer(target_dir, target.config(), draft_dir, lm.model->config());
  LoadedDraft out;
  out.model = std::move(lm.model);
  out.kv_num_blocks = shared_kv_blocks(target, *out.model, target_kv_blocks, opt, kv_block_size, draft_dir);
  return out;
}

LoadedDraft load_eagle_draft(const fs::path& head_dir, const fs::path& target_dir, const Model& target,
                             int target_kv_blocks, const ModelLoadOptions& opt, int kv_block_size) {
  const std::string device = target.backend_name();
  EagleHead head = load_eagle_head(head_dir, target.config(), target_dir, opt.load_format, opt.seed);
  LoadedDraft out;
  if (device == "cuda") {
#ifdef IGNIS_HAVE_CUDA
    cuda::CudaModelOptions co;
    fill_cuda_model_options(opt, co);
    co.quantization.clear();  // the head stays dense
    out.model = std::make_unique<cuda::CudaModel>(head.config, head.weights, co);
#else
    IGNIS_FAIL("--speculative eagle: this build has no CUDA backend");
#endif
  } else {
    IGNIS_CHECK(device == "cpu", "--speculative eagle: unsupported target backend '{}'", device);
    out.model = std::make_unique<CpuModel>(head.config, head.weights);
  }
  out.kv_num_blocks = shared_kv_blocks(target, *out.model, target_kv_blocks, opt, kv_block_size, head_dir);
  return out;
}

#ifdef IGNIS_HAVE_CUDA
namespace {

// cuda::DeviceMedusaHeads as the proposer's runner.
class CudaMedusaRunner : public MedusaHeadRunner {
 public:
  CudaMedusaRunner(const MedusaHeads& heads, DType dtype) {
    cuda::MedusaHeadsHost h;
    h.hidden = heads.hidden();
    h.vocab = heads.vocab();
    for (int i = 0; i < heads.num_heads(); ++i) {
      const MedusaHeads::Head& hd = heads.head(i);
      std::vector<cuda::MedusaHeadsHost::Block> blocks;
      for (const cpu::Linear& b : hd.blocks) blocks.push_back({b.weight().data(), b.bias().data()});
      h.heads.push_back(std::move(blocks));
      h.lm_heads.push_back(hd.lm_head->weight().data());
    }
    dev_ = std::make_unique<cuda::DeviceMedusaHeads>(h, dtype);
  }
  const char* where() const override { return "cuda"; }
  void top_tokens(const float* h, int m, const std::vector<int>& topk, std::vector<std::vector<int32_t>>& top,
                  std::vector<char>& bad) override {
    dev_->top_tokens(h, m, topk, top, bad);
  }

 private:
  std::unique_ptr<cuda::DeviceMedusaHeads> dev_;
};

}  // namespace
#endif

LoadedMedusa load_medusa_proposer(const fs::path& heads_dir, const fs::path& target_dir, const Model& target,
                                  const SpecConfig& cfg, int target_kv_blocks, const ModelLoadOptions& opt,
                                  int kv_block_size) {
  auto heads = MedusaHeads::load(heads_dir, target.config(), target_dir);
  LoadedMedusa out;
  out.kv_num_blocks = target_kv_blocks;
  std::unique_ptr<MedusaHeadRunner> runner;
  const std::string device = target.backend_name();
  if (device == "cuda") {
#ifdef IGNIS_HAVE_CUDA
    const auto* tc = dynamic_cast<const cuda::CudaModel*>(&target);
    IGNIS_CHECK(tc, "--speculative medusa: the target is not a CUDA model");
    runner = std::make_unique<CudaMedusaRunner>(*heads, tc->dtype());
    out.kv_num_blocks = tc->kv_blocks_for_fraction(opt.kv_cache_fraction, kv_block_size);
    IGNIS_CHECK(out.kv_num_blocks > 0, "{}: no GPU memory left for the KV cache beside the Medusa heads",
                heads_dir.string());
#else
    IGNIS_FAIL("--speculative medusa: this build has no CUDA backend");
#endif
  }
  out.proposer = std::make_unique<MedusaProposer>(std::move(heads), cfg.medusa_choices, std::move(runner));
  return out;
}

}  // namespace ignis
