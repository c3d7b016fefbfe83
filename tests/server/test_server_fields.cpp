// Issue 22 item 3: every request field each endpoint accepts (server/fields.h accepted_fields) either
// changes the demo model's output, is rejected with an error naming it, or (a short list, each with
// its reason) cannot change the generated text by its API's definition; any other field is a 400
// naming it. Plus logit_bias -100 / +100, Triton bad-word sequences and end_id, and the
// text-generation-inference form with details. Runs the real engine on the CPU over models/demo
// through Server::handle (no sockets but a socketpair).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "runtime/engine.h"
#include "runtime/model_loader.h"
#include "server/fields.h"
#include "server/generation.h"
#include "server/server.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace ignis;
using namespace ignis::server;

namespace {

const fs::path kDemo = fs::path(IGNIS_SOURCE_DIR) / "models" / "demo";

// Renders tools and add_generation_prompt, so both reach the prompt; Hermes-style tool calls.
const char* kTemplate =
    "{% if tools %}[TOOLS]{% for t in tools %}{{ t['function']['name'] }} {% endfor %}[/TOOLS] call as "
    "<tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>\n{% endif %}"
    "{% for m in messages %}# {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}def answer():\n{% endif %}";

struct Resp {
  int status = 0;
  std::string body;  // de-chunked
  json j;            // parsed body (non-stream), else null
  std::vector<json> events;  // SSE data payloads (stream)
};

std::string dechunk(const std::string& s) {
  std::string out;
  size_t at = 0;
  while (at < s.size()) {
    size_t eol = s.find("\r\n", at);
    if (eol == std::string::npos) break;
    size_t n = std::stoul(s.substr(at, eol - at), nullptr, 16);
    if (n == 0) break;
    out += s.substr(eol + 2, n);
    at = eol + 2 + n + 2;
  }
  return out;
}

class Demo {
 public:
  static Demo* get() {
    if (!instance() && fs::exists(kDemo / "tokenizer.json")) instance().reset(new Demo());
    return instance().get();
  }
  static std::unique_ptr<Demo>& instance() {
    static std::unique_ptr<Demo> d;
    return d;
  }
  const Tokenizer& tok() const { return *tok_; }

  Resp post(const std::string& path, const json& body) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    HttpRequest req;
    req.method = "POST";
    req.path = req.target = path;
    req.version = "HTTP/1.1";
    req.headers = {{"content-type", "application/json"}};
    req.body = body.dump();
    Resp r;
    std::string raw;
    std::thread reader([&] {  // drains the socket so long streams never block the writer
      char buf[65536];
      for (;;) {
        ssize_t n = read(fds[1], buf, sizeof buf);
        if (n <= 0) break;
        raw.append(buf, size_t(n));
      }
    });
    {
      HttpResponder res(fds[0], false, 5000);
      server_->handle(req, res);
      r.status = res.status();
    }
    shutdown(fds[0], SHUT_WR);
    reader.join();
    close(fds[0]);
    close(fds[1]);
    const size_t head_end = raw.find("\r\n\r\n");
    std::string head = raw.substr(0, head_end);
    std::string body_raw = head_end == std::string::npos ? "" : raw.substr(head_end + 4);
    const bool chunked = head.find("chunked") != std::string::npos;
    r.body = chunked ? dechunk(body_raw) : body_raw;
    if (head.find("text/event-stream") != std::string::npos) {
      size_t at = 0;
      while ((at = r.body.find("data:", at)) != std::string::npos) {
        size_t end = r.body.find("\n\n", at);
        std::string d = r.body.substr(at + 5, end - at - 5);
        at = end;
        if (d == " [DONE]") continue;
        r.events.push_back(json::parse(d));
      }
    } else if (!r.body.empty()) {
      r.j = json::parse(r.body, nullptr, false);
    }
    return r;
  }

 private:
  Demo() {
    tok_ = std::shared_ptr<const Tokenizer>(Tokenizer::load(kDemo));
    ModelLoadOptions lo;
    lo.device = "cpu";
    LoadedModel lm = load_model(kDemo, lo);
    EngineConfig ec;
    ec.kv_num_blocks = lm.kv_num_blocks;
    ec.seed = 1;
    engine_ = std::make_unique<Engine>(std::move(lm.model), ec, tok_);
    backend_ = std::make_unique<EngineBackend>(*engine_);
    ServedModel m;
    m.name = "demo";
    m.max_model_len = 2048;
    m.vocab_size = engine_->model().config().vocab_size;
    m.chat_template = kTemplate;
    ServerOptions o;
    o.access_log = false;
    server_ = std::make_unique<Server>(*backend_, tok_, m, o,
                                       [](const json& ctx) { return render_chat_template(kTemplate, ctx); });
  }
  std::shared_ptr<const Tokenizer> tok_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<EngineBackend> backend_;
  std::unique_ptr<Server> server_;
};

// Stops the engine before static destruction.
class DemoEnv : public ::testing::Environment {
 public:
  void TearDown() override { Demo::instance().reset(); }
};
const auto* const kDemoEnv = ::testing::AddGlobalTestEnvironment(new DemoEnv);

#define NEED_DEMO()                                                                                 \
  Demo* demo = Demo::get();                                                                         \
  if (!demo) GTEST_SKIP() << kDemo << " has no tokenizer.json: run scripts/fetch-assets.sh"

// The generated output of a response, without its per-request ids and times.
std::string canon(const Resp& r) {
  auto strip = [](json j) {
    if (j.is_object())
      for (const char* k : {"id", "created", "system_fingerprint"}) j.erase(k);
    return j.dump();
  };
  if (!r.events.empty()) {
    std::string s = "stream:";
    for (auto& e : r.events) s += strip(e) + "\n";
    return s;
  }
  return strip(r.j);
}

std::string error_message(const Resp& r) {
  if (!r.j.is_object() || !r.j.contains("error")) return "";
  const json& e = r.j["error"];
  return e.is_string() ? e.get<std::string>() : e.value("message", "");
}

enum class Want { Changes, Rejected, Same };

struct Case {
  Case(Endpoint e, std::string f, json b, json p, Want w, std::string y = "", std::string pa = "")
      : ep(e), field(std::move(f)), base(std::move(b)), patch(std::move(p)), want(w), why(std::move(y)), path(std::move(pa)) {}
  Endpoint ep;
  std::string field;
  json base, patch;
  Want want;
  std::string why;   // Same: why the field cannot change the text
  std::string path;  // default: the endpoint's
};

std::string path_of(Endpoint e) {
  switch (e) {
    case Endpoint::Completions: return "/v1/completions";
    case Endpoint::Chat: return "/v1/chat/completions";
    default: return "/v2/models/demo/generate";
  }
}

json merged(json base, const json& patch) {
  base.merge_patch(patch);
  return base;
}

const json kC = {{"prompt", "def fibonacci(n):"}, {"max_tokens", 10}, {"temperature", 0}};
const json kCS = merged(kC, {{"temperature", 1}, {"seed", 7}});
const json kH = {{"messages", {{{"role", "user"}, {"content", "sum of a list"}}}}, {"max_tokens", 16}, {"temperature", 0}};
const json kHS = merged(kH, {{"temperature", 1}, {"seed", 7}});
const json kT = {{"text_input", "def fibonacci(n):"}, {"max_tokens", 16}, {"temperature", 0}};
const json kT0 = {{"text_input", "def fibonacci(n):"}, {"temperature", 0}};
const json kTS = merged(kT, {{"temperature", 1}, {"seed", 7}});
const json kG = {{"inputs", "def fibonacci(n):"}, {"parameters", {{"max_new_tokens", 10}}}};
const json kGS = merged(kG, {{"parameters", {{"do_sample", true}, {"seed", 7}}}});

std::vector<Case> cases() {
  using E = Endpoint;
  const std::string spec_why = "speculative decoding is lossless: it picks the decoding path, not the tokens "
                               "(test_server_spec checks the field reaches the request)";
  const std::string user_why = "OpenAI's end-user id for abuse monitoring: type-checked, no effect on the text";
  std::vector<Case> v;
  // Sampling fields shared by the OpenAI endpoints.
  for (E e : {E::Completions, E::Chat}) {
    const json& b = e == E::Completions ? kC : kH;
    const json& bs = e == E::Completions ? kCS : kHS;
    v.push_back({e, "model", b, {{"model", "nope"}}, Want::Rejected});
    v.push_back({e, "max_tokens", b, {{"max_tokens", 3}}, Want::Changes});
    v.push_back({e, "temperature", b, {{"temperature", 1.5}, {"seed", 1}}, Want::Changes});
    v.push_back({e, "top_p", bs, {{"top_p", 0.05}}, Want::Changes});
    v.push_back({e, "top_k", bs, {{"top_k", 1}}, Want::Changes});
    v.push_back({e, "min_p", bs, {{"min_p", 0.9}}, Want::Changes});
    // (the first 10 greedy demo tokens do not move under these penalties: sampled, they do)
    v.push_back({e, "presence_penalty", bs, {{"presence_penalty", 2}}, Want::Changes});
    v.push_back({e, "frequency_penalty", bs, {{"frequency_penalty", 2}}, Want::Changes});
    v.push_back({e, "repetition_penalty", bs, {{"repetition_penalty", 3}}, Want::Changes});
    v.push_back({e, "seed", bs, {{"seed", 8}}, Want::Changes});
    v.push_back({e, "ignore_eos", merged(b, {{"logit_bias", {{"2", 100}}}}), {{"ignore_eos", true}}, Want::Changes});
    v.push_back({e, "logit_bias", b, {{"logit_bias", {{"13", 100}}}}, Want::Changes});
    v.push_back({e, "logit_bias", b, {{"logit_bias", {{"32000", 1}}}}, Want::Rejected});
    v.push_back({e, "logit_bias", b, {{"logit_bias", {{"13", 101}}}}, Want::Rejected});
    v.push_back({e, "stop", b, {{"stop", "\n"}}, Want::Changes});
    v.push_back({e, "n", b, {{"n", 2}}, Want::Changes});
    v.push_back({e, "best_of", b, {{"best_of", 3}}, Want::Rejected});
    v.push_back({e, "stream", b, {{"stream", true}}, Want::Changes});
    v.push_back({e, "stream_options", merged(b, {{"stream", true}}), {{"stream_options", {{"include_usage", true}}}},
                 Want::Changes});
    v.push_back({e, "user", b, {{"user", "alice"}}, Want::Same, user_why});
    v.push_back({e, "speculative", b, {{"speculative", false}}, Want::Same, spec_why});
  }
  v.push_back({E::Completions, "prompt", kC, {{"prompt", "class Stack:"}}, Want::Changes});
  v.push_back({E::Completions, "logprobs", kC, {{"logprobs", 2}}, Want::Changes});
  v.push_back({E::Completions, "echo", kC, {{"echo", true}}, Want::Changes});
  v.push_back({E::Chat, "messages", kH, {{"messages", {{{"role", "user"}, {"content", "a stack class"}}}}}, Want::Changes});
  v.push_back({E::Chat, "max_completion_tokens", kH, {{"max_completion_tokens", 3}}, Want::Changes});
  v.push_back({E::Chat, "logprobs", kH, {{"logprobs", true}}, Want::Changes});
  v.push_back({E::Chat, "top_logprobs", merged(kH, {{"logprobs", true}}), {{"top_logprobs", 2}}, Want::Changes});
  v.push_back({E::Chat, "add_generation_prompt", kH, {{"add_generation_prompt", false}}, Want::Changes});
  v.push_back({E::Chat, "add_special_tokens", kH, {{"add_special_tokens", false}}, Want::Changes});
  v.push_back({E::Chat, "tools", kH,
               {{"tools", {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", json::object()}}}}}}},
               Want::Changes});
  v.push_back({E::Chat, "tool_choice", kH, {{"tool_choice", "auto"}}, Want::Rejected});  // without tools
  v.push_back({E::Chat, "tool_choice", kH, {{"tool_choice", "none"}}, Want::Same,
               "\"none\" is the default without tools: no tool calls"});
  const json weather = {{{"type", "function"},
                         {"function", {{"name", "get_weather"},
                                       {"parameters", {{"type", "object"},
                                                       {"properties", {{"city", {{"type", "string"}}}}},
                                                       {"required", {"city"}}}}}}}};
  const json kHT = merged(kH, {{"tools", weather}, {"max_tokens", 40}});
  v.push_back({E::Chat, "tool_choice", kHT, {{"tool_choice", "required"}}, Want::Changes});
  v.push_back({E::Chat, "tool_choice", kHT, {{"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}},
               Want::Rejected});
  v.push_back({E::Chat, "parallel_tool_calls", merged(kHT, {{"tool_choice", "required"}}), {{"parallel_tool_calls", false}},
               Want::Changes});
  v.push_back({E::Chat, "parallel_tool_calls", kH, {{"parallel_tool_calls", false}}, Want::Rejected});  // without tools
  v.push_back({E::Chat, "response_format", kH, {{"response_format", {{"type", "text"}}}}, Want::Same,
               "{\"type\": \"text\"} is free text, the default"});
  // Structured output, both OpenAI endpoints.
  const json schema = {{"type", "object"}, {"properties", {{"n", {{"type", "integer"}}}}}, {"required", {"n"}}};
  for (E e : {E::Completions, E::Chat}) {
    const json b = merged(e == E::Completions ? kC : kH, {{"max_tokens", 24}});
    v.push_back({e, "response_format", b, {{"response_format", {{"type", "json_object"}}}}, Want::Changes});
    v.push_back({e, "response_format", b,
                 {{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "n"}, {"schema", schema}, {"strict", true}}}}}},
                 Want::Changes});
    v.push_back({e, "response_format", b, {{"response_format", {{"type", "xml"}}}}, Want::Rejected});
    v.push_back({e, "guided_json", b, {{"guided_json", schema}}, Want::Changes});
    v.push_back({e, "guided_json", b, {{"guided_json", "{not json"}}, Want::Rejected});
    v.push_back({e, "guided_regex", b, {{"guided_regex", "[a-z ]{3,12}"}}, Want::Changes});
    v.push_back({e, "guided_regex", b, {{"guided_regex", "[a-z"}}, Want::Rejected});  // compile error, 400
    v.push_back({e, "guided_grammar", b, {{"guided_grammar", "root ::= \"yes\" | \"no\""}}, Want::Changes});
    v.push_back({e, "guided_choice", b, {{"guided_choice", {"yes", "no"}}}, Want::Changes});
    v.push_back({e, "structured_outputs", b, {{"structured_outputs", {{"regex", "[0-9]{2,4}"}}}}, Want::Changes});
    v.push_back({e, "structured_outputs", b, {{"structured_outputs", {{"regex", "[0-9]{2,4}"}}}, {"guided_regex", "[a-z]+"}},
                 Want::Rejected});  // two constraints
  }

  // Triton (TensorRT-LLM backend form).
  const E t = E::Triton;
  v.push_back({t, "text_input", kT, {{"text_input", "class Stack:"}}, Want::Changes});
  v.push_back({t, "parameters", kT0, {{"parameters", {{"max_tokens", 3}}}}, Want::Changes});
  v.push_back({t, "max_tokens", kT, {{"max_tokens", 3}}, Want::Changes});
  v.push_back({t, "max_new_tokens", kT0, {{"max_new_tokens", 3}}, Want::Changes});
  v.push_back({t, "max_new_tokens", kT, {{"max_new_tokens", 3}}, Want::Rejected});  // differs from max_tokens
  v.push_back({t, "temperature", kT, {{"temperature", 1.5}, {"seed", 1}}, Want::Changes});
  v.push_back({t, "top_p", kTS, {{"top_p", 0.05}}, Want::Changes});
  v.push_back({t, "top_k", kTS, {{"top_k", 1}}, Want::Changes});
  v.push_back({t, "min_p", kTS, {{"min_p", 0.9}}, Want::Changes});
  v.push_back({t, "runtime_top_p", kTS, {{"runtime_top_p", 0.05}}, Want::Changes});
  v.push_back({t, "runtime_top_k", kTS, {{"runtime_top_k", 1}}, Want::Changes});
  v.push_back({t, "presence_penalty", kTS, {{"presence_penalty", 2}}, Want::Changes});
  v.push_back({t, "frequency_penalty", kTS, {{"frequency_penalty", 2}}, Want::Changes});
  v.push_back({t, "repetition_penalty", kT, {{"repetition_penalty", 3}}, Want::Changes});
  v.push_back({t, "seed", kTS, {{"seed", 8}}, Want::Changes});
  v.push_back({t, "random_seed", kTS, {{"random_seed", 8}}, Want::Changes});
  v.push_back({t, "end_id", kT, {{"end_id", 13}}, Want::Changes});
  v.push_back({t, "end_id", kT, {{"end_id", 32000}}, Want::Rejected});
  v.push_back({t, "pad_id", kT, {{"pad_id", 0}}, Want::Same,
               "TensorRT-LLM pads only its output_ids tensor after the end; text_output is cut before the padding"});
  v.push_back({t, "pad_id", kT, {{"pad_id", -1}}, Want::Rejected});
  v.push_back({t, "stop_words", kT, {{"stop_words", {"\n"}}}, Want::Changes});
  v.push_back({t, "bad_words", kT, {{"bad_words", {"number"}}}, Want::Changes});  // " number" is in the output
  v.push_back({t, "exclude_input_in_output", kT, {{"exclude_input_in_output", true}}, Want::Changes});
  v.push_back({t, "beam_width", kT, {{"beam_width", 2}}, Want::Rejected});
  v.push_back({t, "return_log_probs", kT, {{"return_log_probs", true}}, Want::Rejected});
  v.push_back({t, "return_context_logits", kT, {{"return_context_logits", true}}, Want::Rejected});
  v.push_back({t, "return_generation_logits", kT, {{"return_generation_logits", true}}, Want::Rejected});
  v.push_back({t, "stream", kT, {{"stream", true}}, Want::Changes, "", "/v2/models/demo/generate_stream"});
  v.push_back({t, "speculative", kT, {{"speculative", false}}, Want::Same, spec_why});
  // (this server's engine runs no lookahead: test_server_spec checks them against one that does)
  v.push_back({t, "lookahead_window_size", kT, {{"lookahead_window_size", 2}}, Want::Rejected});  // without the others
  v.push_back({t, "lookahead_ngram_size", kT,
               {{"lookahead_window_size", 2}, {"lookahead_ngram_size", 3}, {"lookahead_verification_set_size", 1}},
               Want::Rejected});
  v.push_back({t, "lookahead_verification_set_size", kT, {{"lookahead_verification_set_size", -1}}, Want::Rejected});
  v.push_back({t, "guided_regex", kT, {{"guided_regex", "[a-z ]{3,12}"}}, Want::Changes});
  v.push_back({t, "guided_json", kT, {{"guided_json", schema}}, Want::Changes});
  v.push_back({t, "guided_grammar", kT, {{"guided_grammar", "root ::= \"yes\" | \"no\""}}, Want::Changes});
  v.push_back({t, "guided_choice", kT, {{"parameters", {{"guided_choice", {"yes", "no"}}}}}, Want::Changes});
  v.push_back({t, "structured_outputs", kT, {{"structured_outputs", {{"regex", "[0-9]{2,4}"}}}}, Want::Changes});
  v.push_back({t, "guided_decoding_guide_type", kT, {{"guided_decoding_guide_type", "json"}}, Want::Changes});
  v.push_back({t, "guided_decoding_guide_type", kT, {{"guided_decoding_guide_type", "xml"}}, Want::Rejected});
  v.push_back({t, "guided_decoding_guide", kT,
               {{"guided_decoding_guide_type", "regex"}, {"guided_decoding_guide", "[a-z ]{3,12}"}}, Want::Changes});
  v.push_back({t, "guided_decoding_guide", kT, {{"guided_decoding_guide", "[a-z]+"}}, Want::Rejected});  // no type

  // text-generation-inference form.
  const E g = E::TgiTop, gp = E::TgiParameters;
  auto P = [](json p) { return json{{"parameters", std::move(p)}}; };
  v.push_back({g, "inputs", kG, {{"inputs", "class Stack:"}}, Want::Changes});
  v.push_back({g, "parameters", kG, P({{"max_new_tokens", 3}}), Want::Changes});
  v.push_back({g, "stream", kG, {{"stream", true}}, Want::Changes});
  v.push_back({gp, "do_sample", kG, P({{"do_sample", true}, {"seed", 1}}), Want::Changes});
  v.push_back({gp, "max_new_tokens", kG, P({{"max_new_tokens", 3}}), Want::Changes});
  v.push_back({gp, "temperature", kG, P({{"temperature", 1.5}, {"seed", 1}}), Want::Changes});
  v.push_back({gp, "temperature", kG, P({{"temperature", 0}}), Want::Rejected});
  v.push_back({gp, "top_p", kGS, P({{"top_p", 0.05}}), Want::Changes});
  v.push_back({gp, "top_k", kGS, P({{"top_k", 1}}), Want::Changes});
  v.push_back({gp, "repetition_penalty", kGS, P({{"repetition_penalty", 3}}), Want::Changes});
  v.push_back({gp, "frequency_penalty", kGS, P({{"frequency_penalty", 2}}), Want::Changes});
  v.push_back({gp, "stop", kG, P({{"stop", {"\n"}}}), Want::Changes});
  v.push_back({gp, "seed", kGS, P({{"seed", 8}}), Want::Changes});
  v.push_back({gp, "details", kG, P({{"details", true}}), Want::Changes});
  v.push_back({gp, "return_full_text", kG, P({{"return_full_text", true}}), Want::Changes});
  v.push_back({gp, "best_of", kG, P({{"best_of", 2}}), Want::Rejected});
  v.push_back({gp, "decoder_input_details", kG, P({{"decoder_input_details", true}}), Want::Rejected});
  v.push_back({gp, "watermark", kG, P({{"watermark", true}}), Want::Rejected});
  v.push_back({gp, "grammar", kG, P({{"grammar", {{"type", "regex"}, {"value", "[a-z ]{3,12}"}}}}), Want::Changes});
  v.push_back({gp, "grammar", kG, P({{"grammar", {{"type", "json"}, {"value", schema}}}}), Want::Changes});
  v.push_back({gp, "grammar", kG, P({{"grammar", {{"type", "ebnf"}, {"value", "x"}}}}), Want::Rejected});
  return v;
}

}  // namespace

TEST(ServerFields, EveryAcceptedFieldChangesTheOutputOrIsRejected) {
  NEED_DEMO();
  std::map<Endpoint, std::set<std::string>> covered;
  std::map<std::string, std::string> base_canon;  // base body -> its canonical output
  for (const Case& c : cases()) {
    const std::string path = c.path.empty() ? path_of(c.ep) : c.path;
    SCOPED_TRACE(path + " field '" + c.field + "' patch " + c.patch.dump());
    covered[c.ep].insert(c.field);
    const std::string key = path + c.base.dump();
    if (!base_canon.count(key)) {
      Resp b = demo->post(path, c.base);
      ASSERT_EQ(b.status, 200) << b.body;
      base_canon[key] = canon(b);
    }
    Resp r = demo->post(path, merged(c.base, c.patch));
    switch (c.want) {
      case Want::Changes:
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_NE(canon(r), base_canon[key]) << "the field did not change the output: " << r.body;
        break;
      case Want::Same:
        EXPECT_FALSE(c.why.empty());
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(canon(r), base_canon[key]) << r.body;
        break;
      case Want::Rejected:
        EXPECT_TRUE(r.status == 400 || r.status == 404) << r.status << " " << r.body;
        EXPECT_NE(error_message(r).find(c.field), std::string::npos) << "error does not name the field: " << r.body;
        break;
    }
  }
  // Every accepted field has a case (a new field needs one), and no case names a field not accepted.
  for (Endpoint e : {Endpoint::Completions, Endpoint::Chat, Endpoint::Triton, Endpoint::TgiTop, Endpoint::TgiParameters}) {
    std::set<std::string> accepted(accepted_fields(e).begin(), accepted_fields(e).end());
    EXPECT_EQ(covered[e], accepted) << "endpoint " << int(e);
  }
}

TEST(ServerFields, UnknownFieldsAreRejectedByName) {
  NEED_DEMO();
  const std::vector<std::pair<std::string, json>> bad = {
      {"/v1/completions", merged(kC, {{"frobnicate", 1}})},
      {"/v1/completions", merged(kC, {{"suffix", "x"}})},
      {"/v1/completions", merged(kC, {{"min_tokens", 4}})},
      {"/v1/chat/completions", merged(kH, {{"frobnicate", true}})},
      {"/v1/chat/completions", merged(kH, {{"functions", json::array()}})},
      {"/v2/models/demo/generate", merged(kT, {{"frobnicate", 1}})},
      {"/v2/models/demo/generate", merged(kT, {{"parameters", {{"frobnicate", 1}}}})},
      {"/v2/models/demo/generate", merged(kT, {{"ignore_eos", true}})},
      {"/v2/models/demo/generate", merged(kG, {{"frobnicate", 1}})},
      {"/v2/models/demo/generate_stream", merged(kG, {{"parameters", {{"frobnicate", 1}}}})},
      {"/v2/models/demo/generate", merged(kG, {{"parameters", {{"typical_p", 0.5}}}})},
  };
  for (auto& [path, body] : bad) {
    Resp r = demo->post(path, body);
    std::string field;
    for (auto& [k, v] : body.items())
      if (k != "prompt" && k != "messages" && k != "max_tokens" && k != "temperature" && k != "text_input" &&
          k != "inputs" && k != "parameters")
        field = k;
    if (field.empty())
      for (auto& [k, v] : body["parameters"].items())
        if (k != "max_new_tokens") field = k;
    EXPECT_EQ(r.status, 400) << path << " " << body.dump() << " -> " << r.body;
    EXPECT_NE(error_message(r).find("'" ), std::string::npos);
    EXPECT_NE(error_message(r).find(field), std::string::npos) << r.body;
  }
  // null counts as absent
  EXPECT_EQ(demo->post("/v1/completions", merged(kC, {{"frobnicate", nullptr}})).status, 200);
}

namespace {
// Greedy ids and per-token texts of a prompt, through the TGI form with details.
struct Greedy {
  std::vector<int32_t> ids;
  std::vector<std::string> texts;
  std::string text;
};
Greedy greedy(Demo* demo, const std::string& prompt, int n) {
  Resp r = demo->post("/v2/models/demo/generate", {{"inputs", prompt}, {"parameters", {{"max_new_tokens", n}, {"details", true}}}});
  EXPECT_EQ(r.status, 200) << r.body;
  Greedy g;
  g.text = r.j.value("generated_text", "");
  for (auto& t : r.j["details"]["tokens"]) {
    g.ids.push_back(t["id"].get<int32_t>());
    g.texts.push_back(t["text"].get<std::string>());
  }
  return g;
}
}  // namespace

TEST(ServerFields, LogitBiasMinus100BansPlus100Forces) {
  NEED_DEMO();
  const std::string prompt = "def fibonacci(n):";
  Greedy g = greedy(demo, prompt, 16);
  ASSERT_EQ(g.ids.size(), 16u);
  // The most frequent greedy token, banned: it never appears, greedy or sampled, completions or chat.
  std::map<int32_t, int> freq;
  for (int32_t t : g.ids) freq[t]++;
  int32_t top = std::max_element(freq.begin(), freq.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  const std::string top_text = token_text(demo->tok(), top);
  for (double temp : {0.0, 1.0}) {
    json body = {{"prompt", prompt}, {"max_tokens", 16}, {"temperature", temp}, {"seed", 3}, {"logprobs", 0},
                 {"logit_bias", {{std::to_string(top), -100}}}};
    Resp r = demo->post("/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    for (auto& t : r.j["choices"][0]["logprobs"]["tokens"]) EXPECT_NE(t.get<std::string>(), top_text) << r.body;
    EXPECT_NE(r.j["choices"][0]["text"].get<std::string>(), g.text);
    // +100 on a token the model would not pick: every token is it.
    const int32_t forced = 1000;
    body["logit_bias"] = {{std::to_string(forced), 100}};
    r = demo->post("/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    auto& toks = r.j["choices"][0]["logprobs"]["tokens"];
    EXPECT_EQ(toks.size(), 16u);
    for (auto& t : toks) EXPECT_EQ(t.get<std::string>(), token_text(demo->tok(), forced));
    // chat too
    json chat = {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 4}, {"temperature", temp},
                 {"logprobs", true}, {"logit_bias", {{std::to_string(forced), 100}}}};
    r = demo->post("/v1/chat/completions", chat);
    ASSERT_EQ(r.status, 200) << r.body;
    for (auto& t : r.j["choices"][0]["logprobs"]["content"])
      EXPECT_EQ(t["token"].get<std::string>(), token_text(demo->tok(), forced));
  }
}

TEST(ServerFields, TritonBadWordsBanSequencesNotTheirFirstToken) {
  NEED_DEMO();
  const std::string prompt = "def fibonacci(n):";
  Greedy g = greedy(demo, prompt, 24);
  // A word of two greedy tokens that the tokenizer encodes back to exactly those two tokens.
  size_t at = g.ids.size();
  std::string word;
  for (size_t i = 0; i + 1 < g.ids.size(); i++) {
    if (g.texts[i].size() < 2 || g.texts[i][0] != ' ') continue;
    std::string w = g.texts[i].substr(1) + g.texts[i + 1];
    if (demo->tok().encode(w, false) == std::vector<int32_t>{g.ids[i], g.ids[i + 1]}) {
      at = i;
      word = w;
      break;
    }
  }
  ASSERT_LT(at, g.ids.size()) << "no two-token word in the greedy output: " << g.text;
  json body = {{"text_input", prompt}, {"max_tokens", 24}, {"temperature", 0}, {"exclude_input_in_output", true}};
  Resp base = demo->post("/v2/models/demo/generate", body);
  ASSERT_EQ(base.status, 200);
  EXPECT_EQ(base.j["text_output"], g.text);
  body["bad_words"] = {word};
  Resp r = demo->post("/v2/models/demo/generate", body);
  ASSERT_EQ(r.status, 200) << r.body;
  std::string prefix;  // through the word's first token, which stays allowed
  for (size_t i = 0; i <= at; i++) prefix += g.texts[i];
  const std::string out = r.j["text_output"];
  EXPECT_EQ(out.substr(0, prefix.size()), prefix) << "word '" << word << "': " << out;
  EXPECT_NE(out.substr(prefix.size(), g.texts[at + 1].size()), g.texts[at + 1]) << "word '" << word << "': " << out;
}

TEST(ServerFields, TritonEndIdAndAliases) {
  NEED_DEMO();
  const std::string prompt = "def fibonacci(n):";
  Greedy g = greedy(demo, prompt, 16);
  ASSERT_GE(g.ids.size(), 4u);
  // end_id = the 3rd greedy token: generation ends there, its text not included.
  json body = {{"text_input", prompt}, {"max_new_tokens", 16}, {"temperature", 0}, {"exclude_input_in_output", true},
               {"end_id", g.ids[2]}};
  Resp r = demo->post("/v2/models/demo/generate", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["text_output"], g.texts[0] + g.texts[1]);
  // max_new_tokens (the seed's field) is honoured: 5 tokens, as many as max_tokens gives.
  Resp a = demo->post("/v2/models/demo/generate", {{"text_input", prompt}, {"parameters", {{"max_new_tokens", 5}, {"temperature", 0}}}});
  Resp b = demo->post("/v2/models/demo/generate", {{"text_input", prompt}, {"max_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.j["text_output"], b.j["text_output"]);
  std::string five = prompt;
  for (int i = 0; i < 5; i++) five += g.texts[size_t(i)];
  EXPECT_EQ(a.j["text_output"], five);
}

TEST(ServerFields, TgiFormAndDetails) {
  NEED_DEMO();
  // The seed payload of issue 22.
  Resp r = demo->post("/v2/models/demo/generate",
                      json::parse(R"({"inputs": "What is Deep Learning? ", "parameters": {"do_sample": true,
                                      "max_new_tokens": 5, "details": false, "temperature": 0.2}})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.j["generated_text"].is_string());
  EXPECT_FALSE(r.j.contains("details"));

  r = demo->post("/v2/models/demo/generate",
                 {{"inputs", "def fibonacci(n):"}, {"parameters", {{"max_new_tokens", 6}, {"details", true}, {"seed", 5}, {"do_sample", true}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json& d = r.j["details"];
  EXPECT_EQ(d["finish_reason"], "length");
  EXPECT_EQ(d["generated_tokens"], 6);
  EXPECT_EQ(d["seed"], 5);
  EXPECT_TRUE(d["prefill"].is_array());
  ASSERT_EQ(d["tokens"].size(), 6u);
  std::string joined;
  for (auto& t : d["tokens"]) {
    EXPECT_TRUE(t["id"].is_number_integer());
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    EXPECT_FALSE(t["special"].get<bool>());
    EXPECT_EQ(t["text"], token_text(demo->tok(), t["id"].get<int32_t>()));
    joined += t["text"].get<std::string>();
  }
  EXPECT_EQ(joined, r.j["generated_text"]);
  // logprobs equal the completions endpoint's for the same tokens
  Greedy g = greedy(demo, "def fibonacci(n):", 4);
  Resp c = demo->post("/v1/completions", {{"prompt", "def fibonacci(n):"}, {"max_tokens", 4}, {"temperature", 0}, {"logprobs", 0}});
  Resp t = demo->post("/v2/models/demo/generate", {{"inputs", "def fibonacci(n):"}, {"parameters", {{"max_new_tokens", 4}, {"details", true}}}});
  ASSERT_EQ(c.status, 200);
  for (size_t i = 0; i < 4; i++)
    EXPECT_NEAR(t.j["details"]["tokens"][i]["logprob"].get<double>(),
                c.j["choices"][0]["logprobs"]["token_logprobs"][i].get<double>(), 1e-6);
  EXPECT_TRUE(t.j["details"]["seed"].is_null());  // greedy

  // streaming: one event per token, the last with generated_text and details
  r = demo->post("/v2/models/demo/generate_stream", {{"inputs", "def fibonacci(n):"}, {"parameters", {{"max_new_tokens", 5}}}});
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.events.size(), 5u) << r.body;
  std::string streamed;
  for (size_t i = 0; i < r.events.size(); i++) {
    EXPECT_EQ(r.events[i]["index"], i + 1);
    streamed += r.events[i]["token"]["text"].get<std::string>();
    EXPECT_EQ(r.events[i]["generated_text"].is_null(), i + 1 < r.events.size());
  }
  EXPECT_EQ(r.events.back()["generated_text"], streamed);
  EXPECT_EQ(r.events.back()["details"]["generated_tokens"], 5);
  EXPECT_EQ(r.events.back()["details"]["finish_reason"], "length");
}
