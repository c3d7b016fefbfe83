// Load and disconnect tests on the tiny model:
//  1. 200 concurrent streaming chat clients: zero errors, all complete, every KV block free afterwards;
//  2. disconnect storm: 100 clients close mid-stream: their requests are cancelled, all blocks freed, server healthy;
//  3. a small queue answers 429 with Retry-After when full, and nothing else fails.
import { startServer, request, check, finish, parseSSE, waitBlocksFree, metrics } from "./lib.mjs";

const server = await startServer({ args: ["--max-batch-size", "64", "--no-access-log"] });
try {
  // 1. Load.
  const N = 200;
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: N }, async (_, i) => {
    try {
      const r = await fetch(server.url + "/v1/chat/completions", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: `client ${i} says hello` }], max_tokens: 12, temperature: 0.7, seed: i, stream: true }),
      });
      const text = await r.text();
      const ev = parseSSE(text);
      const content = ev.filter((e) => e !== "[DONE]").flatMap((e) => e.choices).map((c) => c.delta.content || "").join("");
      const fin = ev.filter((e) => e !== "[DONE]").flatMap((e) => e.choices).find((c) => c.finish_reason);
      return { ok: r.status === 200 && ev[ev.length - 1] === "[DONE]" && !!fin && content.length > 0, status: r.status, text: text.slice(0, 200) };
    } catch (e) {
      return { ok: false, status: 0, text: String(e) };
    }
  }));
  const bad = results.filter((r) => !r.ok);
  check(bad.length === 0, `${N} concurrent streaming clients all complete without error`, JSON.stringify(bad.slice(0, 3)));
  console.log(`load: ${N} streams in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  let m = await waitBlocksFree(server);
  check(m.get("ignis_kv_blocks_used") === 0 && m.get("ignis_kv_blocks_free") === m.get("ignis_kv_blocks_total") && m.get("ignis_kv_blocks_total") > 0,
    "every KV block free after the load", m.text.split("\n").filter((l) => l.startsWith("ignis_kv")).join(" "));
  check(m.get("ignis_e2e_request_latency_seconds_count") >= N, "e2e histogram counted every request");

  // 2. Disconnect storm.
  const D = 100;
  const before = (await metrics(server)).text;
  const cancelledBefore = Number((before.match(/ignis_requests_total\{outcome="cancelled"\} (\d+)/) || [0, 0])[1]);
  await Promise.all(Array.from({ length: D }, async (_, i) => {
    const ac = new AbortController();
    try {
      const r = await fetch(server.url + "/v1/completions", {
        method: "POST", headers: { "content-type": "application/json" }, signal: ac.signal,
        body: JSON.stringify({ prompt: `storm ${i}`, max_tokens: 400, ignore_eos: true, stream: true }),
      });
      const reader = r.body.getReader();
      await reader.read();  // the first bytes arrived: the request is running
      ac.abort();
    } catch { /* aborted */ }
  }));
  m = await waitBlocksFree(server);
  check(m.get("ignis_kv_blocks_used") === 0 && m.get("ignis_running_sequences") === 0, "all blocks freed after the disconnect storm",
    m.text.split("\n").filter((l) => /^ignis_(kv|running|queue)/.test(l)).join(" "));
  const cancelled = Number((m.text.match(/ignis_requests_total\{outcome="cancelled"\} (\d+)/) || [0, 0])[1]) - cancelledBefore;
  check(cancelled >= D * 0.9, `the storm's requests were cancelled (${cancelled}/${D})`);
  check((await request(server, "GET", "/health")).status === 200, "healthy after the storm");
  const after = await request(server, "POST", "/v1/completions", { prompt: "still there?", max_tokens: 3 });
  check(after.status === 200 && after.json.usage.completion_tokens === 3, "serves after the storm", after.text);
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  const ex = await server.stop();
  check(ex.code === 0, "server exits 0 after SIGTERM", JSON.stringify(ex));
}

// 3. Bounded queue -> 429 + Retry-After.
const small = await startServer({ args: ["--max-batch-size", "2", "--max-queue", "2", "--no-access-log"] });
try {
  const rs = await Promise.all(Array.from({ length: 30 }, (_, i) =>
    request(small, "POST", "/v1/completions", { prompt: `q ${i}`, max_tokens: 30, ignore_eos: true })));
  const codes = rs.map((r) => r.status);
  const limited = rs.filter((r) => r.status === 429);
  check(limited.length > 0 && limited.every((r) => r.headers.get("retry-after") && r.json.error.type === "rate_limit_error"),
    "full queue answers 429 with Retry-After", codes.join(","));
  check(rs.every((r) => r.status === 200 || r.status === 429), "only 200 or 429 under overload", codes.join(","));
  const m = await waitBlocksFree(small);
  check(m.get("ignis_kv_blocks_used") === 0, "blocks free after overload");
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  await small.stop();
}
finish("load");
