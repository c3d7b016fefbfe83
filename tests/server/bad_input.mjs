// Bad-input suite: every case must get its 4xx with a JSON error body (OpenAI's
// {"error": {"message", "type", ...}} or Triton's {"error": "..."}), and the
// server must keep serving (a good request and /health succeed afterwards).
import { startServer, request, rawRequest, check, finish } from "./lib.mjs";

const KEY = "k-bad-input";
const server = await startServer({ args: ["--api-key", KEY, "--max-model-len", "128", "--max-body-bytes", "1048576"] });
const auth = { authorization: `Bearer ${KEY}`, "content-type": "application/json" };
const chat = (extra) => ({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2, ...extra });
const comp = (extra) => ({ model: "tiny", prompt: "hi", max_tokens: 2, ...extra });
const long = "word ".repeat(400);

// [name, method, path, body (object | string | Buffer), expected status, headers?]
const cases = [
  ["malformed JSON", "POST", "/v1/chat/completions", "{\"messages\": [", 400],
  ["trailing garbage", "POST", "/v1/completions", "{\"prompt\":\"x\"} xyz", 400],
  ["empty body", "POST", "/v1/completions", "", 400],
  ["JSON array body", "POST", "/v1/completions", "[1,2,3]", 400],
  ["JSON string body", "POST", "/v1/chat/completions", "\"hello\"", 400],
  ["deeply nested JSON", "POST", "/v1/completions", "[".repeat(5000) + "]".repeat(5000), 400],
  ["invalid UTF-8 in string", "POST", "/v1/completions", Buffer.concat([Buffer.from('{"prompt":"ab'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 400],
  ["truncated UTF-8", "POST", "/v1/chat/completions", Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}]}')]), 400],
  ["missing messages", "POST", "/v1/chat/completions", { model: "tiny" }, 400],
  ["messages not a list", "POST", "/v1/chat/completions", chat({ messages: "hi" }), 400],
  ["messages empty", "POST", "/v1/chat/completions", chat({ messages: [] }), 400],
  ["message not an object", "POST", "/v1/chat/completions", chat({ messages: ["hi"] }), 400],
  ["message without role", "POST", "/v1/chat/completions", chat({ messages: [{ content: "hi" }] }), 400],
  ["unknown role", "POST", "/v1/chat/completions", chat({ messages: [{ role: "wizard", content: "hi" }] }), 400],
  ["role not a string", "POST", "/v1/chat/completions", chat({ messages: [{ role: 3, content: "hi" }] }), 400],
  ["user content missing", "POST", "/v1/chat/completions", chat({ messages: [{ role: "user" }] }), 400],
  ["content a number", "POST", "/v1/chat/completions", chat({ messages: [{ role: "user", content: 42 }] }), 400],
  ["image content part", "POST", "/v1/chat/completions", chat({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }), 400],
  ["missing prompt", "POST", "/v1/completions", { model: "tiny", max_tokens: 2 }, 400],
  ["prompt a number", "POST", "/v1/completions", comp({ prompt: 5 }), 400],
  ["prompt empty string", "POST", "/v1/completions", comp({ prompt: "" }), 400],
  ["prompt empty list", "POST", "/v1/completions", comp({ prompt: [] }), 400],
  ["prompt mixed list", "POST", "/v1/completions", comp({ prompt: ["a", 1] }), 400],
  ["prompt token out of vocab", "POST", "/v1/completions", comp({ prompt: [1, 999999] }), 400],
  ["prompt negative token", "POST", "/v1/completions", comp({ prompt: [-1] }), 400],
  ["prompt float tokens", "POST", "/v1/completions", comp({ prompt: [1.5, 2] }), 400],
  ["prompt list of objects", "POST", "/v1/completions", comp({ prompt: [{ a: 1 }] }), 400],
  ["max_tokens negative", "POST", "/v1/completions", comp({ max_tokens: -5 }), 400],
  ["max_tokens zero", "POST", "/v1/chat/completions", chat({ max_tokens: 0 }), 400],
  ["max_tokens huge", "POST", "/v1/completions", comp({ max_tokens: 1e12 }), 400],
  ["max_tokens beyond context", "POST", "/v1/completions", comp({ max_tokens: 100000 }), 400],
  ["max_tokens a string", "POST", "/v1/completions", comp({ max_tokens: "10" }), 400],
  ["max_tokens fractional", "POST", "/v1/completions", comp({ max_tokens: 2.5 }), 400],
  ["max_completion_tokens negative", "POST", "/v1/chat/completions", chat({ max_completion_tokens: -1 }), 400],
  ["prompt longer than context", "POST", "/v1/completions", comp({ prompt: long }), 400],
  ["chat longer than context", "POST", "/v1/chat/completions", chat({ messages: [{ role: "user", content: long }], max_tokens: undefined }), 400],
  ["temperature negative", "POST", "/v1/completions", comp({ temperature: -1 }), 400],
  ["temperature a string", "POST", "/v1/chat/completions", chat({ temperature: "hot" }), 400],
  ["top_p zero", "POST", "/v1/completions", comp({ top_p: 0 }), 400],
  ["top_p above 1", "POST", "/v1/completions", comp({ top_p: 1.5 }), 400],
  ["top_k below -1", "POST", "/v1/completions", comp({ top_k: -7 }), 400],
  ["min_p above 1", "POST", "/v1/completions", comp({ min_p: 2 }), 400],
  ["presence_penalty out of range", "POST", "/v1/completions", comp({ presence_penalty: 5 }), 400],
  ["frequency_penalty a bool", "POST", "/v1/completions", comp({ frequency_penalty: true }), 400],
  ["repetition_penalty zero", "POST", "/v1/completions", comp({ repetition_penalty: 0 }), 400],
  ["n zero", "POST", "/v1/completions", comp({ n: 0 }), 400],
  ["n too large", "POST", "/v1/chat/completions", chat({ n: 1000 }), 400],
  ["stop a number", "POST", "/v1/completions", comp({ stop: 5 }), 400],
  ["stop list with a number", "POST", "/v1/completions", comp({ stop: ["a", 3] }), 400],
  ["too many stops", "POST", "/v1/completions", comp({ stop: Array.from({ length: 40 }, (_, i) => "s" + i) }), 400],
  ["logprobs too many", "POST", "/v1/completions", comp({ logprobs: 50 }), 400],
  ["top_logprobs without logprobs", "POST", "/v1/chat/completions", chat({ top_logprobs: 2 }), 400],
  ["top_logprobs too many", "POST", "/v1/chat/completions", chat({ logprobs: true, top_logprobs: 99 }), 400],
  ["stream not a bool", "POST", "/v1/chat/completions", chat({ stream: "yes" }), 400],
  ["stream_options without stream", "POST", "/v1/chat/completions", chat({ stream_options: { include_usage: true } }), 400],
  ["seed a string", "POST", "/v1/completions", comp({ seed: "abc" }), 400],
  ["user not a string", "POST", "/v1/completions", comp({ user: 12 }), 400],
  ["ignore_eos a number", "POST", "/v1/completions", comp({ ignore_eos: 1 }), 400],
  ["tools not a list", "POST", "/v1/chat/completions", chat({ tools: "x" }), 400],
  ["unknown model (chat)", "POST", "/v1/chat/completions", chat({ model: "gpt-9" }), 404],
  ["unknown model (completions)", "POST", "/v1/completions", comp({ model: "nope" }), 404],
  ["unknown model (models/{id})", "GET", "/v1/models/nope", undefined, 404],
  ["unknown endpoint", "GET", "/v1/nothing", undefined, 404],
  ["wrong method", "GET", "/v1/chat/completions", undefined, 405],
  ["missing key", "POST", "/v1/completions", comp({}), 401, { "content-type": "application/json" }],
  ["wrong key", "POST", "/v1/chat/completions", chat({}), 401, { authorization: "Bearer wrong", "content-type": "application/json" }],
  ["key without Bearer", "GET", "/v1/models", undefined, 401, { authorization: KEY }],
  ["metrics without key", "GET", "/metrics", undefined, 401, {}],
  ["body over the limit (10 MB)", "POST", "/v1/completions", JSON.stringify({ prompt: "x".repeat(10 * 1024 * 1024) }), 413],
  ["Triton missing text_input", "POST", "/v2/models/ensemble/generate", { max_tokens: 3 }, 400],
  ["Triton text_input a number", "POST", "/v2/models/ensemble/generate", { text_input: 7 }, 400],
  ["Triton parameters not an object", "POST", "/v2/models/ensemble/generate", { text_input: "a", parameters: [1] }, 400],
  ["Triton max_tokens negative", "POST", "/v2/models/ensemble/generate", { text_input: "a", parameters: { max_tokens: -1 } }, 400],
  ["Triton bad_words a number", "POST", "/v2/models/ensemble/generate", { text_input: "a", bad_words: 3 }, 400],
  ["Triton unknown model", "POST", "/v2/models/llama/generate", { text_input: "a" }, 404],
  ["Triton malformed JSON", "POST", "/v2/models/ensemble/generate_stream", "{text_input", 400],
];

const ok = async () => (await request(server, "POST", "/v1/completions", comp({}), auth)).status === 200;
try {
  let n = 0;
  for (const [name, method, path, body, want, headers] of cases) {
    const r = await request(server, method, path, body, headers || auth);
    const triton = path.startsWith("/v2/");
    const errShape = r.json && (triton && want !== 401 ? typeof r.json.error === "string"
      : r.json.error && typeof r.json.error.message === "string" && typeof r.json.error.type === "string" && "param" in r.json.error && "code" in r.json.error);
    check(r.status === want && errShape, `${name}: want ${want} + JSON error`, `got ${r.status} ${r.text.slice(0, 200)}`);
    if (want === 401) check(r.headers.get("www-authenticate") === "Bearer", `${name}: WWW-Authenticate`);
    if (++n % 10 === 0) check(await ok(), `server still serves after ${n} bad requests`);
  }
  // Protocol-level garbage over raw sockets.
  const raw = [
    ["garbage request line", "HELLO\r\n\r\n", 400],
    ["bad HTTP version", "GET /health HTTP/9.9\r\n\r\n", 505],
    ["header without colon", "GET /health HTTP/1.1\r\nBroken header\r\n\r\n", 400],
    ["bad Content-Length", "POST /v1/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400],
    ["conflicting Content-Length", "POST /v1/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400],
    ["huge header", "GET /health HTTP/1.1\r\nX-Big: " + "a".repeat(40000) + "\r\n\r\n", 431],
    ["bad chunk size", "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["unsupported transfer-encoding", "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501],
  ];
  for (const [name, bytes, want] of raw) {
    const out = await rawRequest(server.port, bytes);
    const status = Number((out.match(/^HTTP\/1\.1 (\d{3})/) || [])[1]);
    const body = out.slice(out.indexOf("\r\n\r\n") + 4);
    let shape = false;
    try { shape = typeof JSON.parse(body).error.message === "string"; } catch { /* no JSON */ }
    check(status === want && shape, `raw: ${name}: want ${want} + JSON error`, out.slice(0, 200));
  }
  // A chunked request body that is valid is accepted.
  const body = JSON.stringify(comp({}));
  const chunked = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
    `${(5).toString(16)}\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`;
  check(/^HTTP\/1\.1 200/.test(await rawRequest(server.port, chunked)), "chunked request body accepted");
  // A slow client that never finishes its request gets cut off without blocking others.
  const slow = rawRequest(server.port, "POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", { timeoutMs: 1000 });
  check(await ok(), "server serves while a slow client stalls");
  await slow;
  check(cases.length + raw.length >= 50, `at least 50 bad-input cases (${cases.length + raw.length})`);
  check(await ok(), "good request after all bad ones");
  check((await request(server, "GET", "/health")).status === 200, "health after all bad ones");
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  const ex = await server.stop();
  check(ex.code === 0, "server exits 0 after SIGTERM", JSON.stringify(ex));
}
finish("bad_input");
