// ignis sched: the scheduler's view of one request (token ids and progress only; the
// engine keeps the streaming / sampling state).
//
// Request state machine (chronological order, so `state >= Decoding` means "has
// produced a token at least once in its current admission"):
//
//   Waiting --admit (KV room for its first chunk)--> Prefilling
//   Prefilling --last prompt chunk computed, token sampled--> Decoding
//   Prefilling/Decoding --KV exhausted, newest admitted--> Preempted (blocks released;
//        requeued at its original place; its prompt + generated tokens are recomputed)
//   Preempted --admit--> Prefilling
//   any --stop / length / cancel / error--> Finished (blocks released)
#pragma once
#include <cstdint>
#include <vector>

namespace ignis {

enum class RequestState : uint8_t { Waiting, Prefilling, Decoding, Preempted, Finished };
const char* request_state_name(RequestState s);

struct SchedRequest {
  uint64_t id = 0;
  int priority = 0;              // higher first
  uint64_t arrival = 0;          // FCFS order within a priority (assigned by the scheduler)
  uint64_t extra_key = 0;        // prefix-cache namespace (e.g. LoRA id)
  std::vector<int32_t> tokens;   // prompt followed by generated tokens
  int num_prompt = 0;
  int max_total = 0;             // prompt + max_tokens
  int num_computed = 0;          // tokens whose KV is in the cache
  int num_cached_prompt = -1;    // prefix-cache hit tokens at first admission (-1 = not yet)
  uint64_t admit_order = 0;      // larger = admitted more recently
  int num_preemptions = 0;
  RequestState state = RequestState::Waiting;
  // Speculative decoding (TensorRT-LLM's LlmRequest style: the step's proposals live on the
  // request). spec_k: proposals wanted in the coming step, set by the engine's policy before
  // step(); the batching pass counts them against max_num_tokens, the capacity pass appends KV
  // slots for them (trimming them before preempting anyone). draft_tokens: the proposals the step
  // runs (at positions tokens.size() .. tokens.size() + k - 1, after the last token), set by the
  // engine's proposer after the capacity pass (set_drafts); cleared by commit_drafts.
  // draft_parents: empty for a chain, else the token tree's parents (spec/proposer.h Proposal::parents).
  int spec_k = 0;
  std::vector<int32_t> draft_tokens;
  std::vector<int32_t> draft_parents;

  int num_generated() const { return int(tokens.size()) - num_prompt; }
  int remaining() const { return int(tokens.size()) - num_computed; }
};

}  // namespace ignis
