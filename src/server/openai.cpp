// ignis server: the OpenAI-compatible API: /v1/completions, /v1/chat/completions, /v1/models.
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <limits>

#include "server/constraints.h"
#include "server/fields.h"
#include "server/handlers.h"
#include "server/tool_calls.h"
#include "tokenizer/tokenizer.h"

namespace ignis::server {

namespace {

constexpr int64_t kMaxTokensLimit = std::numeric_limits<int32_t>::max();

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

void write_sse(HttpResponder& res, const json& j, bool* ok) {
  if (*ok) *ok = res.write_chunk("data: " + dump(j) + "\n\n");
}

// Options both endpoints share.
struct CommonOptions {
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool speculative = true;  // "speculative": false opts out of speculative decoding
  SamplingParams sampling;
  std::optional<RequestConstraint> constraint;  // structured output (constraints.h) or a tool_choice grammar
  std::shared_ptr<const structured::CompiledConstraint> compiled;
};

void compile_constraint(ServerContext& ctx, CommonOptions& o) {
  if (!o.constraint) return;
  if (!ctx.constraints) throw_api(400, "'" + o.constraint->field + "': this server has no tokenizer to constrain with", o.constraint->field);
  o.compiled = ctx.constraints->compile(*o.constraint);
}

CommonOptions read_common(ServerContext& ctx, const json& body) {
  CommonOptions o;
  read_sampling_fields(body, &o.sampling);
  o.sampling.stop_strings = get_string_list(body, "stop", true, 16);
  o.n = static_cast<int>(get_int(body, "n", 1, 64).value_or(1));
  if (auto bo = get_int(body, "best_of", 1, 64); bo && *bo != o.n)
    throw_api(400, "'best_of' different from 'n' is not supported", "best_of");
  o.stream = get_bool(body, "stream").value_or(false);
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw_api(400, "'stream_options' must be an object", "stream_options");
    if (!o.stream) throw_api(400, "'stream_options' is only allowed when 'stream' is true", "stream_options");
    o.include_usage = get_bool(*it, "include_usage").value_or(false);
  }
  o.speculative = get_bool(body, "speculative").value_or(ctx.speculative_default);
  get_string(body, "user");  // end-user id for abuse monitoring in OpenAI's API: type-checked, no effect on output
  o.sampling.logit_bias = get_logit_bias(body, "logit_bias", ctx.model.vocab_size);
  o.constraint = read_openai_constraint(body);
  return o;
}

// One request per (prompt, choice); choice j > 0 gets seed + j so the n choices differ.
std::vector<GenerateRequest> expand(const std::vector<std::vector<int32_t>>& prompts, const std::vector<SamplingParams>& per_prompt,
                                    int n, const std::shared_ptr<const structured::CompiledConstraint>& constraint) {
  std::vector<GenerateRequest> reqs;
  for (size_t i = 0; i < prompts.size(); i++)
    for (int j = 0; j < n; j++) {
      GenerateRequest r;
      r.prompt_ids = prompts[i];
      r.sampling = per_prompt[i];
      r.constraint = constraint;  // each choice gets its own matcher in the engine
      if (r.sampling.seed && j > 0) r.sampling.seed = *r.sampling.seed + static_cast<uint64_t>(j);
      reqs.push_back(std::move(r));
    }
  return reqs;
}

json usage_json(const std::vector<Choice>& choices, int n) {
  int64_t prompt = 0, completion = 0, cached = 0;
  for (size_t i = 0; i < choices.size(); i++) {
    if (i % static_cast<size_t>(n) == 0) {  // a prompt counts once, not once per choice
      prompt += choices[i].usage.prompt_tokens ? choices[i].usage.prompt_tokens : choices[i].prompt_tokens;
      cached += choices[i].usage.cached_prompt_tokens;
    }
    completion += choices[i].usage.completion_tokens ? choices[i].usage.completion_tokens
                                                      : static_cast<int64_t>(choices[i].tokens.size());
  }
  json u = {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
  if (cached) u["prompt_tokens_details"] = {{"cached_tokens", cached}};
  return u;
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

// Completions: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
json completion_logprobs(const Tokenizer& tok, const std::vector<TokenLogprob>& lps, const std::vector<int32_t>& ids,
                         size_t text_offset) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  for (size_t k = 0; k < ids.size(); k++) {
    std::string t = token_text(tok, ids[k]);
    tokens.push_back(t);
    offsets.push_back(text_offset);
    text_offset += t.size();
    if (k < lps.size()) {
      token_lps.push_back(lps[k].logprob);
      json top = json::object();
      for (auto& [id, lp] : lps[k].top) top[token_text(tok, id)] = lp;
      top[t] = lps[k].logprob;
      tops.push_back(top);
    } else {
      token_lps.push_back(nullptr);
      tops.push_back(nullptr);
    }
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
json chat_logprobs(const Tokenizer& tok, const std::vector<TokenLogprob>& lps) {
  json content = json::array();
  for (auto& lp : lps) {
    std::string t = token_text(tok, lp.token);
    json top = json::array();
    for (auto& [id, v] : lp.top) {
      std::string tt = token_text(tok, id);
      top.push_back({{"token", tt}, {"logprob", v}, {"bytes", bytes_of(tt)}});
    }
    content.push_back({{"token", t}, {"logprob", lp.logprob}, {"bytes", bytes_of(t)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

std::vector<int32_t> token_list(ServerContext& ctx, const json& arr) {
  std::vector<int32_t> ids;
  ids.reserve(arr.size());
  for (auto& v : arr) {
    if (!v.is_number_integer()) throw_api(400, "'prompt' token lists must contain only integers", "prompt");
    int64_t id = v.get<int64_t>();
    if (id < 0 || id >= ctx.model.vocab_size)
      throw_api(400, fmt::format("'prompt' token id {} is outside the vocabulary [0, {})", id, ctx.model.vocab_size), "prompt");
    ids.push_back(static_cast<int32_t>(id));
  }
  if (ids.empty()) throw_api(400, "'prompt' must not be empty", "prompt");
  return ids;
}

// prompt: string | [string] | [int] | [[int]]; returns token ids and the prompt texts (for echo).
void read_prompts(ServerContext& ctx, const json& body, std::vector<std::vector<int32_t>>* ids, std::vector<std::string>* texts) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw_api(400, "'prompt' is required", "prompt");
  const json& p = *it;
  auto add_text = [&](const std::string& s) {
    if (s.empty()) throw_api(400, "'prompt' must not be empty", "prompt");
    ids->push_back(ctx.tok.encode(s, true));
    texts->push_back(s);
  };
  if (p.is_string()) {
    add_text(p.get<std::string>());
  } else if (p.is_array()) {
    if (p.empty()) throw_api(400, "'prompt' must not be empty", "prompt");
    if (p.size() > 64 && !p[0].is_number()) throw_api(400, "'prompt' has more than 64 prompts", "prompt");
    if (p[0].is_string()) {
      for (auto& s : p) {
        if (!s.is_string()) throw_api(400, "'prompt' list mixes strings and other types", "prompt");
        add_text(s.get<std::string>());
      }
    } else if (p[0].is_number()) {
      ids->push_back(token_list(ctx, p));
      texts->push_back(ctx.tok.decode(ids->back(), false));
    } else if (p[0].is_array()) {
      for (auto& a : p) {
        if (!a.is_array()) throw_api(400, "'prompt' list mixes token lists and other types", "prompt");
        ids->push_back(token_list(ctx, a));
        texts->push_back(ctx.tok.decode(ids->back(), false));
      }
    } else {
      throw_api(400, "'prompt' must be a string, a list of strings, a list of token ids or a list of token-id lists", "prompt");
    }
  } else {
    throw_api(400, "'prompt' must be a string, a list of strings, a list of token ids or a list of token-id lists", "prompt");
  }
}

// Chat content: a string, null, or a list of {"type": "text", "text": ...} parts.
std::string message_content(const json& m, size_t i, const std::string& role) {
  auto it = m.find("content");
  std::string where = fmt::format("messages[{}].content", i);
  if (it == m.end() || it->is_null()) {
    if (role == "assistant") return "";
    throw_api(400, "'" + where + "' is required", where);
  }
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw_api(400, "'" + where + "' must be a string or a list of content parts", where);
  std::string text;
  for (auto& part : *it) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      throw_api(400, "'" + where + "' parts must be objects with a 'type'", where);
    if (part["type"] != "text") throw_api(400, "'" + where + "' part type '" + part["type"].get<std::string>() + "' is not supported (text only)", where);
    if (!part.contains("text") || !part["text"].is_string()) throw_api(400, "'" + where + "' text parts need a string 'text'", where);
    text += part["text"].get<std::string>();
  }
  return text;
}

json normalized_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) throw_api(400, "'messages' is required", "messages");
  if (!it->is_array()) throw_api(400, "'messages' must be a list", "messages");
  if (it->empty()) throw_api(400, "'messages' must not be empty", "messages");
  json out = json::array();
  for (size_t i = 0; i < it->size(); i++) {
    const json& m = (*it)[i];
    std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw_api(400, "'" + where + "' must be an object", where);
    auto r = m.find("role");
    if (r == m.end() || !r->is_string()) throw_api(400, "'" + where + ".role' is required and must be a string", where + ".role");
    std::string role = r->get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "tool" && role != "developer" && role != "function")
      throw_api(400, "'" + where + ".role' must be one of system, developer, user, assistant, tool; got '" + role + "'", where + ".role");
    json nm = m;
    nm["content"] = message_content(m, i, role);
    out.push_back(std::move(nm));
  }
  prepare_tool_messages(out);
  return out;
}

void check_model(ServerContext& ctx, const json& body) {
  if (auto m = get_string(body, "model"); m && !ctx.model.matches(*m))
    throw_api(404, "The model '" + *m + "' does not exist", "model", "model_not_found");
}

// Shared tail of both endpoints: submit, then stream or collect.
void run_openai(ServerContext& ctx, HttpResponder& res, const CommonOptions& o, std::vector<GenerateRequest> reqs,
                bool chat, const std::vector<std::string>& echo_texts, int logprobs_mode, const ChatTools* tools) {
  const bool parse_tools = chat && tools && tools->parse;
  for (GenerateRequest& r : reqs) r.speculative = o.speculative;
  std::vector<Choice> choices = submit_all(ctx, std::move(reqs));
  const std::string id = make_request_id(chat ? "chatcmpl" : "cmpl");
  const int64_t created = unix_now();
  const char* object = chat ? "chat.completion.chunk" : "text_completion";
  auto base = [&]() { return json{{"id", id}, {"object", object}, {"created", created}, {"model", ctx.model.name}}; };

  if (o.stream) {
    res.begin_stream(200, "text/event-stream; charset=utf-8");
    bool ok = true;
    if (chat) {
      for (size_t i = 0; i < choices.size(); i++) {  // role first
        json j = base();
        j["choices"] = json::array({{{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        if (o.include_usage) j["usage"] = nullptr;
        write_sse(res, j, &ok);
      }
    }
    std::vector<size_t> text_offset(choices.size(), 0);
    if (!chat)
      for (size_t i = 0; i < choices.size() && !echo_texts.empty(); i++) {
        const std::string& t = echo_texts[i / static_cast<size_t>(o.n)];
        json j = base();
        j["choices"] = json::array({{{"index", i}, {"text", t}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        write_sse(res, j, &ok);
        text_offset[i] = t.size();
      }
    std::vector<ToolCallParser> parsers;  // per choice, when the output is parsed for tool calls
    if (parse_tools)
      for (size_t i = 0; i < choices.size(); i++) parsers.emplace_back(tools->format, tools->max_calls);
    std::vector<ToolEvent> events;
    drive(ctx, choices, res, [&](size_t i, const StreamChunk& ch) {
      if (ch.finish == FinishReason::Error) {
        ApiError e{500, "generation failed: " + ch.error, "server_error", "", ""};
        write_sse(res, json::parse(openai_error_body(e)), &ok);
        return ok;
      }
      bool last = ch.finish != FinishReason::None;
      if (ch.text.empty() && ch.tokens.empty() && !last) return ok;
      if (parse_tools) {  // content and tool-call deltas, one event per delta; logprobs on the first
        events.clear();
        parsers[i].push(ch.text, events);
        if (last) parsers[i].finish(events);
        json lp = logprobs_mode >= 0 && !ch.logprobs.empty() ? chat_logprobs(ctx.tok, ch.logprobs) : json(nullptr);
        auto send = [&](json delta, json finish) {
          json j = base();
          j["choices"] = json::array({{{"index", i}, {"delta", std::move(delta)}, {"logprobs", lp}, {"finish_reason", finish}}});
          lp = nullptr;
          if (o.include_usage) j["usage"] = nullptr;
          write_sse(res, j, &ok);
        };
        for (ToolEvent& e : events) {
          if (e.kind == ToolEvent::Kind::Content) {
            if (!e.text.empty()) send({{"content", e.text}}, nullptr);
          } else if (e.kind == ToolEvent::Kind::Call) {
            send({{"tool_calls", json::array({{{"index", e.index}, {"id", e.id}, {"type", "function"},
                                                {"function", {{"name", e.name}, {"arguments", ""}}}}})}},
                 nullptr);
          } else {
            send({{"tool_calls", json::array({{{"index", e.index}, {"function", {{"arguments", e.text}}}}})}}, nullptr);
          }
        }
        if (last) {
          const char* why = parsers[i].num_calls() > 0 && ch.finish == FinishReason::Stop ? "tool_calls" : api_finish_reason(ch.finish);
          send(json::object(), why);
        } else if (!lp.is_null()) {
          send(json::object(), nullptr);  // logprobs of tokens whose text is still held back
        }
        return ok;
      }
      json c = {{"index", i}, {"logprobs", nullptr}, {"finish_reason", last ? json(api_finish_reason(ch.finish)) : json(nullptr)}};
      if (chat) {
        c["delta"] = ch.text.empty() && last ? json::object() : json{{"content", ch.text}};
        if (logprobs_mode >= 0 && !ch.logprobs.empty()) c["logprobs"] = chat_logprobs(ctx.tok, ch.logprobs);
      } else {
        c["text"] = ch.text;
        if (logprobs_mode >= 0 && !ch.tokens.empty()) {
          c["logprobs"] = completion_logprobs(ctx.tok, ch.logprobs, ch.tokens, text_offset[i]);
          for (int32_t t : ch.tokens) text_offset[i] += token_text(ctx.tok, t).size();
        }
      }
      json j = base();
      j["choices"] = json::array({c});
      if (o.include_usage) j["usage"] = nullptr;
      write_sse(res, j, &ok);
      return ok;
    });
    // A stream cut off (shutdown, cancel) ends with an error event carrying the usage so far, so a
    // client can tell it from a complete answer; every complete choice carried its finish_reason.
    if (const std::string cut = stream_cut_off(ctx, choices); !cut.empty()) {
      json e = json::parse(openai_error_body({503, cut, "server_error", "", ctx.force_stop ? "server_shutdown" : "cancelled"}));
      e["usage"] = usage_json(choices, o.n);
      write_sse(res, e, &ok);
    }
    if (o.include_usage) {
      json j = base();
      j["choices"] = json::array();
      j["usage"] = usage_json(choices, o.n);
      write_sse(res, j, &ok);
    }
    if (ok) res.write_chunk("data: [DONE]\n\n");
    res.end_stream();
    return;
  }

  if (!drive_to_end(ctx, choices, res,
                    openai_error_body({499, "client closed request", "invalid_request_error", "", ""})))
    return;
  json out = base();
  out["object"] = chat ? "chat.completion" : "text_completion";
  json arr = json::array();
  for (size_t i = 0; i < choices.size(); i++) {
    Choice& c = choices[i];
    if (c.finish == FinishReason::Error) throw_api(500, "generation failed: " + c.error);
    json item = {{"index", i}, {"logprobs", nullptr}, {"finish_reason", api_finish_reason(c.finish)}};
    if (parse_tools) {
      ToolParse tp = parse_tool_calls(tools->format, c.text, tools->max_calls);
      item["message"] = {{"role", "assistant"}, {"content", tp.calls.empty() || !tp.content.empty() ? json(tp.content) : json(nullptr)}};
      if (!tp.calls.empty()) {
        item["message"]["tool_calls"] = tool_calls_json(tp.calls);
        if (c.finish == FinishReason::Stop) item["finish_reason"] = "tool_calls";
      }
      if (logprobs_mode >= 0) item["logprobs"] = chat_logprobs(ctx.tok, c.logprobs);
    } else if (chat) {
      item["message"] = {{"role", "assistant"}, {"content", c.text}};
      if (logprobs_mode >= 0) item["logprobs"] = chat_logprobs(ctx.tok, c.logprobs);
    } else {
      std::string prefix = echo_texts.empty() ? "" : echo_texts[i / static_cast<size_t>(o.n)];
      item["text"] = prefix + c.text;
      if (logprobs_mode >= 0) item["logprobs"] = completion_logprobs(ctx.tok, c.logprobs, c.tokens, prefix.size());
    }
    arr.push_back(std::move(item));
  }
  out["choices"] = std::move(arr);
  out["usage"] = usage_json(choices, o.n);
  out["system_fingerprint"] = nullptr;
  res.send(200, "application/json", dump(out));
}

}  // namespace

void handle_completions(ServerContext& ctx, const json& body, HttpResponder& res) {
  reject_unknown_fields(body, Endpoint::Completions);
  check_model(ctx, body);
  CommonOptions o = read_common(ctx, body);
  auto max_tokens = get_int(body, "max_tokens", 1, kMaxTokensLimit);
  auto logprobs = get_int(body, "logprobs", 0, 20);
  bool echo = get_bool(body, "echo").value_or(false);
  if (auto s = body.find("suffix"); s != body.end() && !s->is_null()) throw_api(400, "'suffix' is not supported", "suffix");
  o.sampling.logprobs = logprobs ? static_cast<int>(*logprobs) : -1;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> texts;
  read_prompts(ctx, body, &prompts, &texts);
  std::vector<SamplingParams> per_prompt;
  for (auto& p : prompts) {
    SamplingParams sp = o.sampling;
    fit_max_tokens(ctx.model, static_cast<int>(p.size()), max_tokens, 16, &sp);
    per_prompt.push_back(std::move(sp));
  }
  if (!echo) texts.clear();
  compile_constraint(ctx, o);
  run_openai(ctx, res, o, expand(prompts, per_prompt, o.n, o.compiled), false, texts, o.sampling.logprobs, nullptr);
}

void handle_chat(ServerContext& ctx, const json& body, HttpResponder& res) {
  reject_unknown_fields(body, Endpoint::Chat);
  check_model(ctx, body);
  CommonOptions o = read_common(ctx, body);
  const ChatTools tools = read_chat_tools(body, ctx.model.chat_template);
  if (!tools.grammar.empty()) {  // tool_choice "required" / named: the call syntax is enforced
    if (o.constraint)
      throw_api(400, "'tool_choice' and '" + o.constraint->field + "' both constrain the output; give one", "tool_choice");
    RequestConstraint c;
    c.spec.kind = structured::ConstraintSpec::Kind::Grammar;
    c.spec.text = tools.grammar;
    c.field = "tool_choice";
    o.constraint = std::move(c);
  }
  json messages = normalized_messages(body);
  auto max_tokens = get_int(body, "max_completion_tokens", 1, kMaxTokensLimit);
  if (!max_tokens) max_tokens = get_int(body, "max_tokens", 1, kMaxTokensLimit);
  bool want_logprobs = get_bool(body, "logprobs").value_or(false);
  auto top = get_int(body, "top_logprobs", 0, 20);
  if (top && !want_logprobs) throw_api(400, "'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
  o.sampling.logprobs = want_logprobs ? static_cast<int>(top.value_or(0)) : -1;
  if (!ctx.render_chat) throw_api(400, "this model has no chat template; use /v1/completions", "messages");

  json context = {{"messages", messages},
                  {"add_generation_prompt", get_bool(body, "add_generation_prompt").value_or(true)},
                  {"bos_token", ctx.tok.bos_token()},
                  {"eos_token", ctx.tok.eos_token()}};
  if (!tools.tools.is_null()) context["tools"] = tools.tools;
  std::string prompt;
  try {
    prompt = ctx.render_chat(context);
  } catch (const Error& e) {
    throw_api(400, std::string("chat template: ") + e.what(), "messages");
  }
  // Like vLLM: when the template already wrote the BOS token, do not add another.
  std::string bos = ctx.tok.bos_token();
  bool add_special = bos.empty() || prompt.compare(0, bos.size(), bos) != 0;
  if (auto v = get_bool(body, "add_special_tokens")) add_special = *v;
  std::vector<int32_t> ids = ctx.tok.encode(prompt, add_special);
  SamplingParams sp = o.sampling;
  fit_max_tokens(ctx.model, static_cast<int>(ids.size()), max_tokens, 0, &sp);
  compile_constraint(ctx, o);
  run_openai(ctx, res, o, expand({ids}, {sp}, o.n, o.compiled), true, {}, sp.logprobs, &tools);
}

void handle_models(ServerContext& ctx, HttpResponder& res) {
  json data = json::array();
  data.push_back({{"id", ctx.model.name}, {"object", "model"}, {"created", ctx.model.created}, {"owned_by", "ignis"},
                  {"max_model_len", ctx.model.max_model_len}});
  res.send(200, "application/json", dump(json{{"object", "list"}, {"data", data}}));
}

}  // namespace ignis::server
