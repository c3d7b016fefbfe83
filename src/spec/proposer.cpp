#include "spec/proposer.h"

#include "core/error.h"
#include "model/model.h"
#include "spec/draft.h"
#include "spec/lookahead.h"
#include "spec/ngram.h"

namespace ignis {

const char* spec_method_name(SpecMethod m) {
  switch (m) {
    case SpecMethod::None: return "none";
    case SpecMethod::Ngram: return "ngram";
    case SpecMethod::Draft: return "draft";
    case SpecMethod::Lookahead: return "lookahead";
    case SpecMethod::Medusa: return "medusa";
    case SpecMethod::Eagle: return "eagle";
  }
  return "?";
}

SpecMethod parse_spec_method(const std::string& s) {
  if (s == "none" || s.empty()) return SpecMethod::None;
  if (s == "ngram") return SpecMethod::Ngram;
  if (s == "draft") return SpecMethod::Draft;
  if (s == "lookahead") return SpecMethod::Lookahead;
  if (s == "medusa") return SpecMethod::Medusa;
  if (s == "eagle") return SpecMethod::Eagle;
  IGNIS_FAIL("--speculative must be ngram, draft, lookahead, medusa, eagle or none (got '{}')", s);
}

std::unique_ptr<Proposer> make_proposer(const SpecConfig& cfg, std::unique_ptr<Model> draft) {
  switch (cfg.method) {
    case SpecMethod::None: return nullptr;
    case SpecMethod::Ngram: return std::make_unique<NgramProposer>(cfg.ngram_min, cfg.ngram_max);
    case SpecMethod::Lookahead:
      return std::make_unique<LookaheadProposer>(cfg.lookahead_window, cfg.lookahead_ngram, cfg.lookahead_verify);
    case SpecMethod::Draft:
      IGNIS_CHECK(draft != nullptr, "--speculative draft needs a draft model (--speculative-model DIR)");
      return std::make_unique<DraftProposer>(std::move(draft));
    case SpecMethod::Medusa:
      IGNIS_FAIL("--speculative medusa needs its heads (--speculative-model DIR; spec::make_medusa_proposer)");
    case SpecMethod::Eagle:
      IGNIS_FAIL("--speculative eagle needs its draft head (--speculative-model DIR; spec::make_eagle_proposer)");
  }
  return nullptr;
}

}  // namespace ignis
