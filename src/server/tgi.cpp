// ignis server: text-generation-inference's request form on the Triton generate URLs:
// {"inputs": "...", "parameters": {...}, "stream": bool}, answered in TGI's schema. Parameter
// rules follow TGI's router: sampling iff do_sample or any warper (temperature != 1, top_k,
// top_p, as TGI's NextTokenChooser); temperature > 0, top_p in (0, 1), top_k > 0.
#include <fmt/format.h>

#include <random>

#include "server/constraints.h"
#include "server/fields.h"
#include "server/handlers.h"
#include "tokenizer/tokenizer.h"

namespace ignis::server {

namespace {

constexpr int kDefaultMaxNewTokens = 100;  // TGI's default

struct TgiOptions {
  std::string inputs;
  SamplingParams sp;
  std::optional<int64_t> max_new_tokens;
  bool details = false;
  bool full_text = false;
  bool stream = false;
  bool sampled = false;
  std::optional<RequestConstraint> constraint;  // parameters.grammar
};

TgiOptions read_tgi(const json& body, bool stream_endpoint) {
  reject_unknown_fields(body, Endpoint::TgiTop);
  TgiOptions o;
  auto in = get_string(body, "inputs");
  if (!in) throw_api(400, "'inputs' must be a string", "inputs");
  if (in->empty()) throw_api(400, "'inputs' must not be empty", "inputs");
  o.inputs = *in;
  o.stream = get_bool(body, "stream").value_or(false) || stream_endpoint;
  json p = json::object();
  if (auto it = body.find("parameters"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw_api(400, "'parameters' must be an object", "parameters");
    p = *it;
  }
  reject_unknown_fields(p, Endpoint::TgiParameters, "parameters.");
  // Accepted only at the value ignis implements.
  if (auto v = get_int(p, "best_of", 1, 64); v && *v != 1) throw_api(400, "'parameters.best_of' > 1 is not supported", "best_of");
  if (get_bool(p, "decoder_input_details").value_or(false))
    throw_api(400, "'parameters.decoder_input_details' true is not supported", "decoder_input_details");
  if (get_bool(p, "watermark").value_or(false)) throw_api(400, "'parameters.watermark' true is not supported", "watermark");

  SamplingParams& sp = o.sp;
  const auto temperature = get_number(p, "temperature", 0.0, 100.0);
  if (temperature && *temperature <= 0.0) throw_api(400, "'temperature' must be strictly positive", "temperature");
  const auto top_p = get_number(p, "top_p", 0.0, 1.0);
  if (top_p && (*top_p <= 0.0 || *top_p >= 1.0)) throw_api(400, "'top_p' must be > 0.0 and < 1.0", "top_p");
  const auto top_k = get_int(p, "top_k", 1, 1 << 30);
  const bool warpers = (temperature && *temperature != 1.0) || top_k || top_p;
  o.sampled = get_bool(p, "do_sample").value_or(false) || warpers;
  sp.temperature = o.sampled ? static_cast<float>(temperature.value_or(1.0)) : 0.0f;
  if (top_p) sp.top_p = static_cast<float>(*top_p);
  if (top_k) sp.top_k = static_cast<int>(*top_k);
  if (auto v = get_number(p, "repetition_penalty", 0.0, 100.0)) {
    if (*v <= 0.0) throw_api(400, "'repetition_penalty' must be strictly positive", "repetition_penalty");
    sp.repetition_penalty = static_cast<float>(*v);
  }
  if (auto v = get_number(p, "frequency_penalty", -2.0, 2.0)) sp.frequency_penalty = static_cast<float>(*v);
  sp.stop_strings = get_string_list(p, "stop", true, 16);
  if (auto v = get_int(p, "seed", 0, INT64_MAX)) sp.seed = static_cast<uint64_t>(*v);
  if (o.sampled && !sp.seed) {  // TGI reports the seed it sampled with
    static thread_local std::mt19937_64 rng(std::random_device{}());
    sp.seed = rng() >> 1;  // fits a JSON int64
  }
  o.max_new_tokens = get_int(p, "max_new_tokens", 1, INT32_MAX);
  o.details = get_bool(p, "details").value_or(false);
  o.full_text = get_bool(p, "return_full_text").value_or(false);
  sp.logprobs = 0;  // every token's logprob (TGI's tokens[].logprob)
  o.constraint = read_tgi_constraint(p);
  return o;
}

json token_json(const Tokenizer& tok, int32_t id, float logprob) {
  return {{"id", id}, {"text", token_text(tok, id)}, {"logprob", logprob}, {"special", tok.is_special(id)}};
}

// "length", "eos_token" (ended by an end token: the last token is special) or "stop_sequence".
const char* tgi_finish_reason(const Tokenizer& tok, const Choice& c) {
  if (c.finish == FinishReason::Length) return "length";
  if (!c.tokens.empty() && tok.is_special(c.tokens.back())) return "eos_token";
  return "stop_sequence";
}

}  // namespace

void handle_tgi_generate(ServerContext& ctx, const json& body, HttpResponder& res, bool stream_endpoint) {
  TgiOptions o = read_tgi(body, stream_endpoint);
  GenerateRequest r;
  if (o.constraint) {
    if (!ctx.constraints) throw_api(400, "'" + o.constraint->field + "': this server has no tokenizer to constrain with", o.constraint->field);
    r.constraint = ctx.constraints->compile(*o.constraint);
  }
  r.speculative = ctx.speculative_default;
  r.prompt_ids = ctx.tok.encode(o.inputs, true);
  fit_max_tokens(ctx.model, static_cast<int>(r.prompt_ids.size()), o.max_new_tokens, kDefaultMaxNewTokens, &o.sp);
  const json seed = o.sampled ? json(*o.sp.seed) : json(nullptr);
  const int input_length = static_cast<int>(r.prompt_ids.size());
  r.sampling = o.sp;
  std::vector<GenerateRequest> reqs;
  reqs.push_back(std::move(r));
  std::vector<Choice> choices = submit_all(ctx, std::move(reqs));
  auto generated = [&](const Choice& c) { return o.full_text ? o.inputs + c.text : c.text; };

  if (o.stream) {  // one event per token; the last one also carries generated_text and details
    res.begin_stream(200, "text/event-stream; charset=utf-8");
    bool ok = true;
    auto send = [&](const json& j) {
      if (ok) ok = res.write_chunk("data:" + dump(j) + "\n\n");
    };
    std::optional<json> held;  // the latest token event, sent once the next token (or the end) is known
    size_t sent_tokens = 0;
    drive(ctx, choices, res, [&](size_t, const StreamChunk& ch) {
      const Choice& c = choices[0];
      if (ch.finish == FinishReason::Error) {
        send(json{{"error", "generation failed: " + ch.error}, {"error_type", "generation"}});
        return ok;
      }
      for (size_t k = 0; k < ch.tokens.size(); k++) {
        if (held) send(*held);
        const size_t i = sent_tokens++;
        const float lp = i < c.logprobs.size() ? c.logprobs[i].logprob : 0.0f;
        held = json{{"index", i + 1}, {"token", token_json(ctx.tok, ch.tokens[k], lp)}, {"top_tokens", nullptr},
                    {"generated_text", nullptr}, {"details", nullptr}};
      }
      if (ch.finish != FinishReason::None && ch.finish != FinishReason::Cancelled && held) {
        (*held)["generated_text"] = generated(c);
        (*held)["details"] = {{"finish_reason", tgi_finish_reason(ctx.tok, c)},
                              {"generated_tokens", c.tokens.size()},
                              {"seed", seed},
                              {"input_length", input_length}};
        send(*held);
        held.reset();
      }
      return ok;
    });
    if (const std::string cut = stream_cut_off(ctx, choices); !cut.empty()) {
      // Cut off (shutdown, cancel): the held token, then TGI's error event saying so.
      if (held) send(*held);
      send(json{{"error", cut}, {"error_type", ctx.force_stop.load() ? "shutdown" : "cancelled"}});
    }
    res.end_stream();
    return;
  }
  if (!drive_to_end(ctx, choices, res, triton_error_body("client closed request"))) return;
  const Choice& c = choices[0];
  if (c.finish == FinishReason::Error) throw_api(500, "generation failed: " + c.error);
  json out = {{"generated_text", generated(c)}};
  if (o.details) {
    json tokens = json::array();
    for (size_t i = 0; i < c.tokens.size(); i++)
      tokens.push_back(token_json(ctx.tok, c.tokens[i], i < c.logprobs.size() ? c.logprobs[i].logprob : 0.0f));
    out["details"] = {{"finish_reason", tgi_finish_reason(ctx.tok, c)},
                      {"generated_tokens", c.tokens.size()},
                      {"seed", seed},
                      {"prefill", json::array()},
                      {"tokens", tokens}};
  }
  res.send(200, "application/json", dump(out));
}

}  // namespace ignis::server
