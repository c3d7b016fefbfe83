#include "runtime/batch_builder.h"

namespace ignis {

void build_forward_batch(const StepPlan& plan, const KvCacheManager& kv, ForwardBatch& out) {
  out.tokens.clear();
  out.tokens.reserve(size_t(plan.num_tokens));
  out.seqs.resize(plan.seqs.size());
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const ScheduledSeq& s = plan.seqs[i];
    const auto& toks = s.req->tokens;
    const int plain = s.num_tokens - s.num_draft;  // tokens of the request; then its proposals
    out.tokens.insert(out.tokens.end(), toks.begin() + s.num_cached, toks.begin() + s.num_cached + plain);
    const auto& draft = s.req->draft_tokens;
    out.tokens.insert(out.tokens.end(), draft.begin(), draft.begin() + s.num_draft);
    BatchSeq& b = out.seqs[i];
    b.num_cached = s.num_cached;
    b.num_tokens = s.num_tokens;
    b.num_draft = s.num_draft;
    b.all_logits = s.num_draft > 0;  // verification: a row per proposal plus the bonus row
    b.tree_parent.clear();
    if (s.num_draft > 0 && !s.req->draft_parents.empty()) {  // a token tree: root, then the nodes
      b.tree_parent.push_back(-1);
      for (int j = 0; j < s.num_draft; ++j) b.tree_parent.push_back(s.req->draft_parents[size_t(j)] + 1);
    }
    const auto& table = kv.block_table(s.req->id);
    b.block_table.assign(table.begin(), table.end());
  }
}

}  // namespace ignis
