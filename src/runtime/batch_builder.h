// ignis runtime: turns the scheduler's step plan into the model's flat ForwardBatch.
#pragma once
#include "kv/kv_cache_manager.h"
#include "model/batch.h"
#include "sched/scheduler.h"

namespace ignis {

// Fills `out` (reusing its storage): tokens of each scheduled chunk, sequence after
// sequence, with the sequence's block table; one logit row per sequence, except speculative
// sequences (ScheduledSeq::num_draft > 0): their last token and proposals, all_logits.
void build_forward_batch(const StepPlan& plan, const KvCacheManager& kv, ForwardBatch& out);

}  // namespace ignis
