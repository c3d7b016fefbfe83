// The official `openai` npm client (pinned) against `ignis serve`: chat and
// completions, streaming and not; plus the Triton request of issue 6 with curl,
// Triton streaming, API keys and SIGTERM draining an in-flight request.
import { execFileSync } from "node:child_process";
import { startServer, request, check, finish, requireModule, parseSSE, waitBlocksFree } from "./lib.mjs";

const OpenAI = requireModule("openai").default ?? requireModule("openai");
const KEY = "sk-test-key-1";
const server = await startServer({ args: ["--api-key", KEY, "--max-model-len", "256"], env: { IGNIS_API_KEY: "second-key" } });
const auth = { authorization: `Bearer ${KEY}` };
try {
  const client = new OpenAI({ apiKey: KEY, baseURL: server.url + "/v1", maxRetries: 0 });

  // Models.
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === "tiny", "models.list returns the served model", JSON.stringify(models.data));

  // Chat, non-streaming, greedy twice -> same text; usage consistent.
  const chatReq = { model: "tiny", messages: [{ role: "system", content: "be brief" }, { role: "user", content: "Hello there" }], max_tokens: 8, temperature: 0 };
  const c1 = await client.chat.completions.create(chatReq);
  const c2 = await client.chat.completions.create(chatReq);
  check(c1.object === "chat.completion" && c1.choices.length === 1, "chat completion shape", JSON.stringify(c1));
  check(c1.choices[0].message.role === "assistant" && typeof c1.choices[0].message.content === "string", "chat message role/content");
  check(c1.choices[0].finish_reason === "length" || c1.choices[0].finish_reason === "stop", "chat finish_reason", c1.choices[0].finish_reason);
  check(c1.usage.completion_tokens <= 8 && c1.usage.completion_tokens >= 1, "chat usage.completion_tokens within max_tokens", JSON.stringify(c1.usage));
  check(c1.usage.total_tokens === c1.usage.prompt_tokens + c1.usage.completion_tokens, "chat usage total");
  check(c1.choices[0].message.content === c2.choices[0].message.content, "greedy chat is deterministic");
  // The template writes <s>; the server must not add a second BOS: prompt = 1 BOS + text tokens.
  const plain = await client.completions.create({ model: "tiny", prompt: "[INST] be brief [/INST][INST] Hello there [/INST]", max_tokens: 1, temperature: 0 });
  check(plain.usage.prompt_tokens === c1.usage.prompt_tokens, "chat prompt has exactly one BOS (same length as the completion prompt with BOS)",
    `${plain.usage.prompt_tokens} vs ${c1.usage.prompt_tokens}`);

  // Chat streaming with include_usage: role first, content deltas, finish_reason, usage chunk, text equals non-streamed.
  const stream = await client.chat.completions.create({ ...chatReq, stream: true, stream_options: { include_usage: true } });
  let text = "", first = null, finishReason = null, usage = null, chunks = 0;
  for await (const ch of stream) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      if (first === null) first = c.delta;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finishReason = c.finish_reason;
    }
  }
  check(first && first.role === "assistant", "first stream delta carries the role", JSON.stringify(first));
  check(text === c1.choices[0].message.content, "streamed chat text equals non-streamed text", `${JSON.stringify(text)} vs ${JSON.stringify(c1.choices[0].message.content)}`);
  check(finishReason === c1.choices[0].finish_reason, "stream finish_reason");
  check(usage && usage.completion_tokens === c1.usage.completion_tokens && usage.prompt_tokens === c1.usage.prompt_tokens, "stream usage chunk", JSON.stringify(usage));
  check(chunks >= 3, "several stream chunks", chunks);

  // Completions: string, list of strings, token ids, n, logprobs, echo, stop, seed.
  const cp = await client.completions.create({ model: "tiny", prompt: "The capital of France is", max_tokens: 6, temperature: 0, logprobs: 2 });
  check(cp.object === "text_completion" && typeof cp.choices[0].text === "string", "completion shape", JSON.stringify(cp));
  const lp = cp.choices[0].logprobs;
  check(lp && lp.tokens.length === cp.usage.completion_tokens && lp.token_logprobs.every((x) => x <= 0), "completion logprobs per token", JSON.stringify(lp));
  check(lp && lp.top_logprobs.every((t) => Object.keys(t).length >= 2), "completion top_logprobs has alternatives");
  const joined = lp ? lp.tokens.join("") : "";
  check(lp && lp.text_offset[0] === 0 && lp.text_offset.every((o, i) => i === 0 || o >= lp.text_offset[i - 1]),
    "text_offset starts at 0 and grows", JSON.stringify(lp && lp.text_offset));
  if (!joined.includes("\uFFFD") && !cp.choices[0].text.includes("\uFFFD"))
    check(joined === cp.choices[0].text, "logprob tokens concatenate to the text", JSON.stringify([lp && lp.tokens, cp.choices[0].text]));
  const multi = await client.completions.create({ model: "tiny", prompt: ["a b c", "one two"], n: 2, max_tokens: 3, temperature: 0.8, seed: 7 });
  check(multi.choices.length === 4 && multi.choices.map((c) => c.index).join() === "0,1,2,3", "2 prompts x n=2 -> 4 indexed choices", JSON.stringify(multi.choices));
  const ids = await client.completions.create({ model: "tiny", prompt: [1, 415, 5565], max_tokens: 2, temperature: 0 });
  check(ids.usage.prompt_tokens === 3, "token-id prompt used as is", JSON.stringify(ids.usage));
  const seeded = [];
  for (let i = 0; i < 2; i++) seeded.push((await client.completions.create({ model: "tiny", prompt: "seed test", max_tokens: 6, temperature: 1, seed: 123 })).choices[0].text);
  check(seeded[0] === seeded[1], "same seed, same sampled text", JSON.stringify(seeded));
  const echo = await client.completions.create({ model: "tiny", prompt: "echo me", max_tokens: 2, temperature: 0, echo: true });
  check(echo.choices[0].text.startsWith("echo me"), "echo prepends the prompt", echo.choices[0].text);
  // Stop: take the 3rd generated token's text as a stop string; the output must end before it.
  const full = cp.choices[0].text;
  const stopWord = lp.tokens.slice(2).find((t) => t.trim().length > 1 && full.indexOf(t) > 0);
  if (stopWord) {
    const st = await client.completions.create({ model: "tiny", prompt: "The capital of France is", max_tokens: 6, temperature: 0, stop: [stopWord] });
    check(st.choices[0].finish_reason === "stop" && !st.choices[0].text.includes(stopWord) && full.startsWith(st.choices[0].text),
      "stop string ends the completion before it", JSON.stringify({ stopWord, got: st.choices[0].text, full }));
  }
  // Completions streaming.
  const cs = await client.completions.create({ model: "tiny", prompt: "The capital of France is", max_tokens: 6, temperature: 0, stream: true });
  let ctext = "", cfin = null;
  for await (const ch of cs) for (const c of ch.choices) { ctext += c.text; if (c.finish_reason) cfin = c.finish_reason; }
  check(ctext === full && cfin === cp.choices[0].finish_reason, "streamed completion equals non-streamed", JSON.stringify([ctext, full]));
  // Chat logprobs.
  const cl = await client.chat.completions.create({ ...chatReq, logprobs: true, top_logprobs: 3 });
  const content = cl.choices[0].logprobs && cl.choices[0].logprobs.content;
  check(content && content.length === cl.usage.completion_tokens && content.every((t) => t.top_logprobs.length === 3 && Array.isArray(t.bytes)),
    "chat logprobs.content with 3 top_logprobs each", JSON.stringify(cl.choices[0].logprobs).slice(0, 300));
  // Second key (from IGNIS_API_KEY) works; wrong key -> 401 through the client.
  const c3 = new OpenAI({ apiKey: "second-key", baseURL: server.url + "/v1", maxRetries: 0 });
  check((await c3.models.list()).data.length === 1, "IGNIS_API_KEY key accepted");
  let status = 0;
  try { await new OpenAI({ apiKey: "nope", baseURL: server.url + "/v1", maxRetries: 0 }).models.list(); } catch (e) { status = e.status; }
  check(status === 401, "wrong key -> 401", status);

  // Triton: the exact request of issue 6, with curl (no key -> 401; with key -> 200).
  const tritonBody = '{"text_input": "How do I count to nine in French?", "parameters": {"max_tokens": 100, "bad_words":[""], "stop_words":[""]}}';
  const curl = (extra) => execFileSync("curl", ["-s", "-w", "\n%{http_code}", "-X", "POST", `${server.url}/v2/models/ensemble/generate`, "-d", tritonBody, ...extra], { encoding: "utf8" });
  const noKey = curl([]).split("\n");
  check(noKey.pop() === "401", "Triton without key -> 401");
  const out = curl(["-H", `Authorization: Bearer ${KEY}`]).split("\n");
  const code = out.pop();
  const tj = JSON.parse(out.join("\n"));
  check(code === "200" && tj.model_name === "ensemble" && tj.model_version === "1" && tj.text_output.startsWith("How do I count to nine in French?"),
    "Triton generate via curl", out.join("\n").slice(0, 300));
  const tr = await request(server, "POST", "/v2/models/tiny/generate", { text_input: "abc", max_tokens: 5, temperature: 0, exclude_input_in_output: true }, auth);
  check(tr.status === 200 && typeof tr.json.text_output === "string" && !tr.json.text_output.startsWith("abc"), "Triton top-level params + exclude_input_in_output", tr.text);
  const ts = await request(server, "POST", "/v2/models/ensemble/generate_stream", { text_input: "abc", parameters: { max_tokens: 5, temperature: 0, stream: true, exclude_input_in_output: true } }, auth);
  const events = parseSSE(ts.text);
  check(ts.status === 200 && events.length >= 2 && events.map((e) => e.text_output).join("") === tr.json.text_output,
    "Triton generate_stream deltas join to the full output", ts.text.slice(0, 300));
  // Issue 22: max_new_tokens honoured (5 tokens, not 16), the text-generation-inference form by curl,
  // and logit_bias through the openai client (-100 bans the greedy first token, +100 forces one).
  const mnt = await request(server, "POST", "/v2/models/ensemble/generate", { text_input: "abc", parameters: { max_new_tokens: 5, temperature: 0, exclude_input_in_output: true } }, auth);
  const tgiBody = '{"inputs": "What is Deep Learning? ", "parameters": {"do_sample": true, "max_new_tokens": 5, "details": true, "temperature": 0.2}}';
  const tgiOut = execFileSync("curl", ["-s", "-w", "\n%{http_code}", "-X", "POST", `${server.url}/v2/models/ensemble/generate`, "-H", `Authorization: Bearer ${KEY}`, "-d", tgiBody], { encoding: "utf8" }).split("\n");
  const tgiCode = tgiOut.pop();
  const tgi = JSON.parse(tgiOut.join("\n"));
  check(tgiCode === "200" && typeof tgi.generated_text === "string" && tgi.details.generated_tokens === 5 && tgi.details.tokens.length === 5 &&
    tgi.details.tokens.every((t) => Number.isInteger(t.id) && t.logprob <= 0 && typeof t.special === "boolean") &&
    Number.isInteger(tgi.details.seed) && tgi.details.finish_reason === "length",
    "TGI form with details via curl", tgiOut.join("\n").slice(0, 400));
  const greedy = await request(server, "POST", "/v2/models/ensemble/generate", { inputs: "The capital of France is", parameters: { max_new_tokens: 6, details: true } }, auth);
  const ids6 = greedy.json.details.tokens.map((t) => t.id);
  check(mnt.status === 200 && ids6.length === 6, "max_new_tokens and TGI greedy ids", mnt.text + greedy.text.slice(0, 200));
  const banned = await client.completions.create({ model: "tiny", prompt: "The capital of France is", max_tokens: 6, temperature: 0, logprobs: 0, logit_bias: { [String(ids6[0])]: -100 } });
  const bannedText = greedy.json.details.tokens[0].text;
  check(!banned.choices[0].logprobs.tokens.includes(bannedText) && banned.choices[0].text !== greedy.json.generated_text,
    "logit_bias -100 bans the greedy token", JSON.stringify([bannedText, banned.choices[0].logprobs.tokens]));
  const forced = await client.chat.completions.create({ ...chatReq, max_tokens: 4, logprobs: true, logit_bias: { "1000": 100 } });
  const ft = forced.choices[0].logprobs.content.map((c) => c.token);
  check(ft.length === 4 && ft.every((t) => t === ft[0]), "logit_bias +100 forces a token (chat)", JSON.stringify(ft));
  let unsupported = null;  // json_object / json_schema are honoured (structured.mjs); other types are not
  try { await client.chat.completions.create({ ...chatReq, response_format: { type: "yaml" } }); } catch (e) { unsupported = e; }
  check(unsupported && unsupported.status === 400 && /response_format/.test(unsupported.message), "unsupported response_format -> 400 naming it", String(unsupported));
  for (const p of ["/v2/health/ready", "/v2/health/live", "/health"]) check((await request(server, "GET", p)).status === 200, `${p} without a key`);
  const meta = await request(server, "GET", "/v2/models/ensemble", undefined, auth);
  check(meta.status === 200 && meta.json.name === "ensemble", "Triton model metadata", meta.text);
  const page = await request(server, "GET", "/");
  check(page.status === 200 && page.text.includes("<html") && page.headers.get("content-type").startsWith("text/html"), "chat page served at /");
  const m = await waitBlocksFree(server, auth);
  check(m.get("ignis_kv_blocks_used") === 0, "all KV blocks free after the tests");
  check(m.get("ignis_time_to_first_token_seconds_count") > 0 && m.get("ignis_generation_tokens_total") > 0, "metrics recorded TTFT and tokens");
  check(m.get("ignis_prefix_cache_hash_mismatches_total") === 0, "prefix-cache hash mismatches exported (none without collisions)");

  // SIGTERM while a request runs: it completes, then the server exits 0.
  const long = request(server, "POST", "/v1/completions", { prompt: "long one", max_tokens: 200, temperature: 0, ignore_eos: true }, auth);
  await new Promise((r) => setTimeout(r, 150));
  server.proc.kill("SIGTERM");
  const lr = await long;
  check(lr.status === 200 && lr.json.usage.completion_tokens === 200, "in-flight request finishes during SIGTERM drain", lr.text.slice(0, 200));
  const ex = await server.exited;
  check(ex.code === 0, "server exits 0 after SIGTERM", JSON.stringify(ex));
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  await server.stop();
}
finish("openai_client");
