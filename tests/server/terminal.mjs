// How requests end, on the tiny model over loopback:
//  1. every choice of a complete stream carries its finish_reason (length / stop);
//  2. a half-closed client (request sent, then shutdown(SHUT_WR)) gets its response, and the
//     requests pipelined behind it are answered too (plain and streaming);
//  3. a request that can never fit (more sequences than the queue ever holds, a prompt longer
//     than the context) gets 400 saying why, not 429;
//  4. on SIGTERM with a short --shutdown-timeout, cut-off streams end with a terminal event that
//     says so: OpenAI an SSE error event with the usage so far, then [DONE]; Triton a final event
//     with an error field.
import net from "node:net";
import { startServer, makeModel, request, check, finish, parseSSE } from "./lib.mjs";

// Sends `bytes`, half-closes (FIN), and collects everything until the server closes.
function halfClosed(port, bytes, timeoutMs = 20000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let out = "";
    const timer = setTimeout(() => { sock.destroy(); resolve(out); }, timeoutMs);
    sock.on("connect", () => { sock.write(bytes); sock.end(); });
    sock.on("data", (d) => { out += d.toString("latin1"); });
    sock.on("error", () => {});
    sock.on("close", () => { clearTimeout(timer); resolve(out); });
  });
}
const post = (path, body, extra = "") => {
  const b = JSON.stringify(body);
  return `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${extra}\r\n${b}`;
};
// Decodes the body of a chunked response (the part after its head).
function dechunk(s) {
  let out = "", pos = 0;
  for (;;) {
    const nl = s.indexOf("\r\n", pos);
    if (nl < 0) return out;
    const n = parseInt(s.slice(pos, nl), 16);
    if (!(n > 0)) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    pos = nl + 2 + n + 2;
  }
}

const server = await startServer({ args: ["--no-access-log"] });
try {
  // 1. Complete streams: every choice's last chunk names how it ended.
  const r = await fetch(server.url + "/v1/completions", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "hello there", max_tokens: 6, n: 2, ignore_eos: true, stream: true }),
  });
  const ev = parseSSE(await r.text());
  const fins = ev.filter((e) => e !== "[DONE]").flatMap((e) => e.choices || []).filter((c) => c.finish_reason);
  check(r.status === 200 && ev[ev.length - 1] === "[DONE]", "complete stream ends with [DONE]");
  check(fins.length === 2 && fins.every((c) => c.finish_reason === "length"), "both choices carry finish_reason length", JSON.stringify(fins));
  check(!ev.some((e) => e !== "[DONE]" && e.error), "a complete stream has no error event");
  const chat = await fetch(server.url + "/v1/chat/completions", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 40, stream: true }),
  });
  const cev = parseSSE(await chat.text()).filter((e) => e !== "[DONE]");
  const cfin = cev.flatMap((e) => e.choices || []).filter((c) => c.finish_reason).map((c) => c.finish_reason);
  check(cfin.length === 1 && ["stop", "length"].includes(cfin[0]), "chat stream ends with stop or length", JSON.stringify(cfin));

  // 2. Half-closed clients.
  const plain = await halfClosed(server.port,
    post("/v1/completions", { prompt: "half closed", max_tokens: 4, ignore_eos: true }) +
    "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  const heads = plain.match(/HTTP\/1\.1 \d+/g) || [];
  check(heads.length === 2 && heads.every((h) => h === "HTTP/1.1 200"), "half-closed client: its request and the pipelined one are answered",
    plain.slice(0, 400));
  check(/"completion_tokens":4/.test(plain) && /"status":"ok"/.test(plain), "half-closed client: completion then health bodies", plain.slice(0, 600));
  const streamed = await halfClosed(server.port,
    post("/v1/completions", { prompt: "half closed stream", max_tokens: 5, ignore_eos: true, stream: true }));
  const sev = parseSSE(dechunk(streamed.slice(streamed.indexOf("\r\n\r\n") + 4)));
  check(streamed.startsWith("HTTP/1.1 200") && sev[sev.length - 1] === "[DONE]" &&
    sev.some((e) => e !== "[DONE]" && e.choices.some((c) => c.finish_reason === "length")),
    "half-closed streaming client gets the whole stream", streamed.slice(0, 400));

  // 3. Requests that can never fit: 400 with the reason.
  const many = await request(server, "POST", "/v1/completions",
    { prompt: Array.from({ length: 64 }, (_, i) => `p${i}`), n: 64, max_tokens: 1 });
  check(many.status === 400 && /4096 sequences/.test(many.json?.error?.message) && /--max-queue/.test(many.json?.error?.message),
    "64 prompts x n=64 on an idle server: 400 naming the queue limit", many.text.slice(0, 300));
  const long = await request(server, "POST", "/v1/completions", { prompt: Array(600).fill(100), max_tokens: 1 });
  check(long.status === 400 && long.json?.error?.code === "context_length_exceeded", "prompt longer than the context: 400", long.text.slice(0, 300));
  check((await request(server, "GET", "/health")).status === 200, "healthy after the rejected requests");
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  await server.stop();
}

// 4. Shutdown cuts streams off: a long context so generation is still running when the grace ends.
const long = await startServer({ model: makeModel({ maxPos: 16384 }), args: ["--shutdown-timeout", "1", "--no-access-log"] });
try {
  const openaiStream = fetch(long.url + "/v1/completions", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "tell a long story", max_tokens: 16000, ignore_eos: true, stream: true,
      stream_options: { include_usage: true } }),
  });
  const tritonStream = fetch(long.url + "/v2/models/tiny/generate_stream", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ text_input: "another long story", max_tokens: 16000, temperature: 0, stream: true }),  // greedy: deterministic; the dummy model does not end it
  });
  // The text-generation-inference form (greedy: deterministic, and the dummy model does not end it).
  const tgiStream = fetch(long.url + "/v2/models/tiny/generate_stream", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ inputs: "a third long story", parameters: { max_new_tokens: 16000 } }),
  });
  const [o, t, g] = await Promise.all([openaiStream, tritonStream, tgiStream]);
  // All are streaming (their first bytes arrived) before the server is told to stop.
  const oReader = o.body.getReader(), tReader = t.body.getReader(), gReader = g.body.getReader();
  const dec = new TextDecoder();
  let oText = dec.decode((await oReader.read()).value || new Uint8Array()), tText = "";
  const first = await tReader.read();
  tText = new TextDecoder().decode(first.value || new Uint8Array());
  let gText = new TextDecoder().decode((await gReader.read()).value || new Uint8Array());
  long.proc.kill("SIGTERM");
  const drain = async (reader, d, acc) => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return acc;
      acc += d.decode(value, { stream: true });
    }
  };
  [oText, tText, gText] = await Promise.all([drain(oReader, dec, oText), drain(tReader, new TextDecoder(), tText),
    drain(gReader, new TextDecoder(), gText)]);
  const oev = parseSSE(oText);
  const err = oev.find((e) => e !== "[DONE]" && e.error);
  check(oev[oev.length - 1] === "[DONE]", "cut-off OpenAI stream still ends with [DONE]", oText.slice(-300));
  check(err && /server shutting down/.test(err.error.message) && err.error.code === "server_shutdown" &&
    err.usage && err.usage.completion_tokens > 0 && err.usage.completion_tokens < 16000,
    "cut-off OpenAI stream has an error event with the usage so far", JSON.stringify(err));
  const aborted = oev.filter((e) => e !== "[DONE]").flatMap((e) => e.choices || []).filter((c) => c.finish_reason);
  check(aborted.every((c) => c.finish_reason === "abort"), "no cut-off choice claims stop or length", JSON.stringify(aborted));
  const tev = parseSSE(tText);
  const last = tev[tev.length - 1];
  check(last && typeof last.error === "string" && /server shutting down/.test(last.error), "cut-off Triton stream ends with an error event",
    tText.slice(-300));
  check(tev.slice(0, -1).every((e) => !e.error && typeof e.text_output === "string"), "Triton events before it are text");
  const gev = gText.split("\n\n").filter((e) => e.startsWith("data:")).map((e) => JSON.parse(e.slice(5)));
  const glast = gev[gev.length - 1];
  check(glast && /server shutting down/.test(glast.error) && glast.error_type === "shutdown", "cut-off TGI stream ends with an error event",
    gText.slice(-300));
  check(gev.length > 1 && gev.slice(0, -1).every((e) => e.token && e.details === null), "TGI events before it are tokens, none claims an end",
    gText.slice(0, 300));
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  await long.stop();
}
finish("terminal");
