// ignis server: submitting and pumping generation requests.
#include "server/generation.h"

#include <fmt/format.h>

#include <chrono>
#include <random>

#include "tokenizer/tokenizer.h"

namespace ignis::server {

void fit_max_tokens(const ServedModel& m, int prompt_len, std::optional<int64_t> requested, int default_max,
                    SamplingParams* p) {
  if (prompt_len <= 0) throw_api(400, "the prompt is empty (0 tokens)", "prompt");
  int64_t room = static_cast<int64_t>(m.max_model_len) - prompt_len;
  if (room < 1)
    throw_api(400, fmt::format("This model's maximum context length is {} tokens. However, your prompt is {} tokens, "
                               "leaving no room for the completion.", m.max_model_len, prompt_len),
              "messages", "context_length_exceeded");
  int64_t want = requested ? *requested : (default_max > 0 ? std::min<int64_t>(default_max, room) : room);
  if (want > room)
    throw_api(400, fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                               "({} in the prompt, {} for the completion). Please reduce the prompt or max_tokens.",
                               m.max_model_len, prompt_len + want, prompt_len, want),
              "max_tokens", "context_length_exceeded");
  p->max_tokens = static_cast<int>(want);
}

std::vector<Choice> submit_all(ServerContext& ctx, std::vector<GenerateRequest> reqs) {
  // More sequences than the engine ever queues at once can never be accepted, however idle it is:
  // that is the request's fault (400), not a busy server (429).
  const int cap = ctx.backend.max_queued_requests();
  if (cap > 0 && reqs.size() > static_cast<size_t>(cap))
    throw_api(400,
              fmt::format("this request asks for {} sequences (prompts x n), more than the server ever holds in its "
                          "queue ({}, --max-queue); send fewer prompts or a smaller n", reqs.size(), cap),
              "n", "too_many_sequences");
  std::vector<Choice> out;
  out.reserve(reqs.size());
  auto cancel_all = [&] {
    for (auto& c : out) c.handle->cancel();
  };
  for (auto& r : reqs) {
    Choice c;
    c.prompt_tokens = static_cast<int>(r.prompt_ids.size());
    try {
      c.handle = ctx.backend.submit(std::move(r));
    } catch (const QueueFullError& e) {
      cancel_all();
      ApiError err;
      err.status = 429;
      err.type = error_type_for(429);
      err.message = std::string("server busy: ") + e.what();
      err.code = "queue_full";
      throw err;
    } catch (const Error& e) {
      cancel_all();
      throw_api(400, e.what());
    }
    out.push_back(std::move(c));
  }
  return out;
}

bool drive(ServerContext& ctx, std::vector<Choice>& choices, HttpResponder& res,
           const std::function<bool(size_t, const StreamChunk&)>& on_chunk) {
  using namespace std::chrono;
  size_t remaining = choices.size();
  bool cancelled = false;
  steady_clock::time_point cancel_deadline{};
  auto cancel_all = [&] {
    if (cancelled) return;
    cancelled = true;
    cancel_deadline = steady_clock::now() + seconds(30);
    for (auto& c : choices) c.handle->cancel();
  };
  auto take = [&](size_t i, StreamChunk& ch) {
    Choice& c = choices[i];
    c.text += ch.text;
    c.tokens.insert(c.tokens.end(), ch.tokens.begin(), ch.tokens.end());
    c.logprobs.insert(c.logprobs.end(), ch.logprobs.begin(), ch.logprobs.end());
    if (ch.finish != FinishReason::None) {
      c.finish = ch.finish;
      c.error = ch.error;
      c.usage = c.handle->usage();
      if (c.usage.prompt_tokens == 0) c.usage.prompt_tokens = c.prompt_tokens;
      if (c.usage.completion_tokens == 0) c.usage.completion_tokens = static_cast<int>(c.tokens.size());
      ctx.metrics.record_generation(c.usage, c.handle->timings());
      ctx.metrics.count_request(finish_reason_name(c.finish));
      remaining--;
    }
    // Still called after a cancel: the chunks the engine sends until it confirms (the text so far
    // and the final "cancelled") reach a client that is still there (a forced shutdown).
    if (!on_chunk(i, ch)) cancel_all();
  };
  // The handles wake this request's waiter when a chunk arrives (the server's handler then waits
  // on a fiber, holding no thread).
  for (auto& c : choices) c.handle->set_notify(res.waker());
  while (remaining > 0) {
    bool got = false;
    for (size_t i = 0; i < choices.size(); i++) {
      StreamChunk ch;
      while (choices[i].finish == FinishReason::None && choices[i].handle->next(&ch, milliseconds(0))) {
        got = true;
        take(i, ch);
        ch = StreamChunk{};
      }
    }
    if (remaining == 0) break;
    if (!got) res.wait(milliseconds(100));  // until a chunk, the client going away, or a look at force_stop
    if (!cancelled && (ctx.force_stop.load() || res.client_gone())) cancel_all();
    if (cancelled && steady_clock::now() > cancel_deadline) break;  // engine never confirmed; give up
  }
  return !cancelled;
}

std::string stream_cut_off(const ServerContext& ctx, const std::vector<Choice>& choices) {
  size_t cut = 0;
  int64_t tokens = 0;
  for (const Choice& c : choices) {
    tokens += static_cast<int64_t>(c.tokens.size());
    if (c.finish == FinishReason::None || c.finish == FinishReason::Cancelled) cut++;
  }
  if (cut == 0) return "";
  const std::string what = choices.size() == 1 ? "the stream" : fmt::format("{} of {} choices", cut, choices.size());
  if (ctx.force_stop.load())
    return fmt::format("server shutting down: {} was cancelled before it finished ({} tokens generated); the output is "
                       "incomplete", what, tokens);
  return fmt::format("request cancelled: {} ended before it finished ({} tokens generated); the output is incomplete",
                     what, tokens);
}

bool drive_to_end(ServerContext& ctx, std::vector<Choice>& choices, HttpResponder& res, const std::string& closed_body) {
  if (drive(ctx, choices, res, [](size_t, const StreamChunk&) { return true; })) return true;
  if (ctx.force_stop) throw_api(503, "server shutting down; request cancelled");
  res.force_close();
  res.send(499, "application/json", closed_body);
  return false;
}

std::string token_text(const Tokenizer& tok, int32_t id) {
  // Decoding a token alone drops SentencePiece's leading space ("▁bus" -> "bus"), so
  // decode it after an anchor token and strip the anchor's text: "a bus" - "a" = " bus".
  thread_local const Tokenizer* cached = nullptr;
  thread_local int32_t anchor = -1;
  thread_local std::string anchor_text;
  if (cached != &tok) {
    cached = &tok;
    std::vector<int32_t> a = tok.encode("a", false);
    anchor = a.empty() ? -1 : a.back();
    anchor_text = anchor < 0 ? "" : tok.decode({anchor}, false);
  }
  if (anchor < 0) return tok.decode({id}, false);
  std::string both = tok.decode({anchor, id}, false);
  if (both.compare(0, anchor_text.size(), anchor_text) != 0) return tok.decode({id}, false);
  return both.substr(anchor_text.size());
}

const char* api_finish_reason(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "abort";
    case FinishReason::Error: return "error";
    default: return "stop";
  }
}

std::string make_request_id(const char* prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}-{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

}  // namespace ignis::server
