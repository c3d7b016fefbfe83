// ignis server: the Triton generate extension as TensorRT-LLM's Triton backend
// (ensemble / tensorrt_llm / tensorrt_llm_bls models) serves it.
#include <fmt/format.h>

#include "server/constraints.h"
#include "server/fields.h"
#include "server/handlers.h"
#include "tokenizer/tokenizer.h"

namespace ignis::server {

namespace {

constexpr const char* kVersion = "1";

// Parameters may be given at the top level or inside "parameters" (the latter wins).
json merged_parameters(const json& body) {
  json p = json::object();
  for (auto& [k, v] : body.items())
    if (k != "parameters") p[k] = v;
  if (auto it = body.find("parameters"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw_api(400, "'parameters' must be an object", "parameters");
    for (auto& [k, v] : it->items()) p[k] = v;
  }
  return p;
}

// TensorRT-LLM's bad words: each word's token sequence (encoded like its preprocessing model does,
// without special tokens) is banned as a whole: its last token cannot follow the rest of it.
std::vector<std::vector<int32_t>> bad_word_sequences(const Tokenizer& tok, const std::vector<std::string>& words) {
  std::vector<std::vector<int32_t>> seqs;
  for (auto& w : words) {
    std::vector<int32_t> t = tok.encode(w, false);
    if (!t.empty()) seqs.push_back(std::move(t));
  }
  return seqs;
}

// TensorRT-LLM outputs ignis does not produce: accepted when false (the default), else a 400.
void only_false(const json& p, const char* key) {
  if (get_bool(p, key).value_or(false))
    throw_api(400, std::string("'") + key + "' true is not supported (ignis returns text_output only)", key,
              "unsupported_field");
}

}  // namespace

std::string triton_error_body(const std::string& message) { return dump(json{{"error", message}}); }

void handle_triton_generate(ServerContext& ctx, const json& body, HttpResponder& res, const std::string& model_name,
                            bool stream_endpoint) {
  if (!ctx.model.matches(model_name))
    throw_api(404, "Request for unknown model: '" + model_name + "' is not found", "model", "model_not_found");
  if (body.contains("inputs") && !body.contains("text_input")) {  // text-generation-inference's form
    handle_tgi_generate(ctx, body, res, stream_endpoint);
    return;
  }
  reject_unknown_fields(body, Endpoint::Triton);
  if (auto it = body.find("parameters"); it != body.end()) reject_unknown_fields(*it, Endpoint::Triton, "parameters.");
  json p = merged_parameters(body);
  auto text = get_string(p, "text_input");
  if (!text) throw_api(400, "'text_input' is required", "text_input");
  if (text->empty()) throw_api(400, "'text_input' must not be empty", "text_input");
  if (auto bw = get_int(p, "beam_width", 1, 64); bw && *bw != 1) throw_api(400, "'beam_width' > 1 is not supported", "beam_width");

  SamplingParams sp;
  read_sampling_fields(p, &sp);
  if (auto v = get_int(p, "random_seed", INT64_MIN, INT64_MAX)) sp.seed = static_cast<uint64_t>(*v);
  if (auto v = get_number(p, "runtime_top_p", 0.0, 1.0); v && *v > 0) sp.top_p = static_cast<float>(*v);
  if (auto v = get_int(p, "runtime_top_k", 0, 1 << 30)) sp.top_k = static_cast<int>(*v);
  // end_id is TensorRT-LLM's end token: it replaces the model's eos (which then no longer stops).
  if (auto v = get_int(p, "end_id", 0, ctx.model.vocab_size - 1)) {
    sp.stop_token_ids.push_back(static_cast<int32_t>(*v));
    sp.ignore_eos = true;
  }
  // pad_id only fills TensorRT-LLM's output_ids tensor after the end; text_output (all ignis
  // returns) is cut at the sequence length there too, so it is checked and has no effect.
  get_int(p, "pad_id", 0, ctx.model.vocab_size - 1);
  sp.stop_strings = get_string_list(p, "stop_words", true, 64);
  sp.bad_word_ids = bad_word_sequences(ctx.tok, get_string_list(p, "bad_words", true, 256));
  for (const char* k : {"return_log_probs", "return_context_logits", "return_generation_logits"}) only_false(p, k);
  bool exclude_input = get_bool(p, "exclude_input_in_output").value_or(false);
  bool stream = get_bool(p, "stream").value_or(false);
  auto max_tokens = get_int(p, "max_tokens", 1, INT32_MAX);
  if (auto alias = get_int(p, "max_new_tokens", 1, INT32_MAX)) {
    if (max_tokens && *max_tokens != *alias)
      throw_api(400, "'max_tokens' and 'max_new_tokens' differ; give one", "max_new_tokens");
    max_tokens = alias;
  }

  GenerateRequest r;
  if (auto c = read_triton_constraint(p)) {
    if (!ctx.constraints) throw_api(400, "'" + c->field + "': this server has no tokenizer to constrain with", c->field);
    r.constraint = ctx.constraints->compile(*c);
  }
  r.speculative = get_bool(p, "speculative").value_or(ctx.speculative_default);
  // TensorRT-LLM's per-request lookahead config: all three or none (the engine checks them against
  // its own: a 400 naming the limit otherwise).
  {
    const char* keys[3] = {"lookahead_window_size", "lookahead_ngram_size", "lookahead_verification_set_size"};
    std::optional<int64_t> v[3];
    for (int i = 0; i < 3; ++i) v[i] = get_int(p, keys[i], 0, 1024);
    if (v[0] || v[1] || v[2]) {
      for (int i = 0; i < 3; ++i)
        if (!v[i])
          throw_api(400, fmt::format("'{}', '{}' and '{}' come together: '{}' is missing", keys[0], keys[1], keys[2],
                                     keys[i]),
                    keys[i]);
      r.lookahead = {static_cast<int>(*v[0]), static_cast<int>(*v[1]), static_cast<int>(*v[2])};
      try {
        if (!r.lookahead.set()) IGNIS_FAIL("must not all be 0");
        if (ctx.spec) check_lookahead_request(*ctx.spec, r.lookahead);
      } catch (const Error& e) {
        throw_api(400, fmt::format("'{}', '{}', '{}': {}", keys[0], keys[1], keys[2], e.what()), keys[0]);
      }
    }
  }
  r.prompt_ids = ctx.tok.encode(*text, true);
  fit_max_tokens(ctx.model, static_cast<int>(r.prompt_ids.size()), max_tokens, 16, &sp);
  r.sampling = std::move(sp);
  std::vector<GenerateRequest> reqs;
  reqs.push_back(std::move(r));
  std::vector<Choice> choices = submit_all(ctx, std::move(reqs));

  auto message = [&](const std::string& out) {
    return json{{"model_name", model_name}, {"model_version", kVersion}, {"text_output", out}};
  };
  if (stream_endpoint) {
    res.begin_stream(200, "text/event-stream; charset=utf-8");
    bool ok = true;
    auto send = [&](const json& j) {
      if (ok) ok = res.write_chunk("data: " + dump(j) + "\n\n");
    };
    drive(ctx, choices, res, [&](size_t, const StreamChunk& ch) {
      if (ch.finish == FinishReason::Error) {
        send(json{{"error", "generation failed: " + ch.error}});
      } else if (stream && !ch.text.empty()) {
        send(message(ch.text));
      }
      return ok;
    });
    if (const std::string cut = stream_cut_off(ctx, choices); !cut.empty()) {
      // Cut off (shutdown, cancel): a final event with an error field and what was generated.
      json j = message(stream ? "" : choices[0].text);
      j["error"] = cut;
      send(j);
    } else if (!stream && choices[0].finish != FinishReason::Error) {
      send(message(exclude_input ? choices[0].text : *text + choices[0].text));
    }
    res.end_stream();
    return;
  }
  if (!drive_to_end(ctx, choices, res, triton_error_body("client closed request"))) return;
  if (choices[0].finish == FinishReason::Error) throw_api(500, "generation failed: " + choices[0].error);
  res.send(200, "application/json", dump(message(exclude_input ? choices[0].text : *text + choices[0].text)));
}

void handle_triton_model(ServerContext& ctx, HttpResponder& res, const std::string& model_name) {
  if (!ctx.model.matches(model_name))
    throw_api(404, "Request for unknown model: '" + model_name + "' is not found", "model", "model_not_found");
  auto tensor = [](const char* name, const char* type) { return json{{"name", name}, {"datatype", type}, {"shape", {-1}}}; };
  json meta = {{"name", model_name},
               {"versions", {kVersion}},
               {"platform", "ensemble"},
               {"inputs", {tensor("text_input", "BYTES"), tensor("max_tokens", "INT32"), tensor("bad_words", "BYTES"),
                           tensor("stop_words", "BYTES"), tensor("end_id", "INT32"), tensor("pad_id", "INT32"),
                           tensor("temperature", "FP32"), tensor("top_k", "INT32"), tensor("top_p", "FP32"),
                           tensor("runtime_top_k", "INT32"), tensor("runtime_top_p", "FP32"),
                           tensor("random_seed", "UINT64"), tensor("repetition_penalty", "FP32"),
                           tensor("presence_penalty", "FP32"), tensor("frequency_penalty", "FP32"),
                           tensor("beam_width", "INT32"), tensor("exclude_input_in_output", "BOOL"),
                           tensor("stream", "BOOL")}},
               {"outputs", {tensor("text_output", "BYTES")}}};
  res.send(200, "application/json", dump(meta));
}

}  // namespace ignis::server
