// Connection admission and thread economy of the event-driven server (issue 23 items 1-2):
//  A. default flags: 2,000 idle sockets that never send a request do not stop health checks,
//     normal requests or 100 concurrent streams; the server's thread count stays small (a
//     waiting stream holds no thread); the idle sockets are closed by the header timeout;
//  B. at --max-connections the oldest idle connections are evicted for new ones; with every
//     slot busy, the reserve still answers /health and /v2/health/* (other paths get 503);
//  C. --max-connections-per-client refuses a client above its limit when none of its
//     connections is idle.
import fs from "node:fs";
import net from "node:net";
import { startServer, request, rawRequest, check, finish, parseSSE, metrics } from "./lib.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const threads = (pid) => Number(fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^Threads:\s+(\d+)/m)[1]);

// Opens n sockets that send `bytes` (nothing by default); resolves once all are connected.
async function openSockets(port, n, bytes = "") {
  const socks = [];
  let closed = 0;
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { if (bytes) s.write(bytes); resolve(); });
    s.on("error", () => resolve());
    s.on("close", () => { closed++; resolve(); });
    s.on("data", () => {});
    socks.push(s);
  })));
  return { socks, closed: () => closed, destroy: () => socks.forEach((s) => s.destroy()) };
}

async function stream(server, i) {
  try {
    const r = await fetch(server.url + "/v1/completions", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: `admission ${i}`, max_tokens: 8, ignore_eos: true, stream: true }),
    });
    const ev = parseSSE(await r.text());
    return r.status === 200 && ev[ev.length - 1] === "[DONE]";
  } catch { return false; }
}

// Each probe on its own connection, as an orchestrator's liveness probe does.
const health = async (server) => {
  const outs = await Promise.all(["/health", "/v2/health/live", "/v2/health/ready"].map((p) =>
    rawRequest(server.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)));
  return outs.map((o) => Number((o.match(/^HTTP\/1\.1 (\d{3})/) || [0, 0])[1]));
};

// A. Defaults.
let server = await startServer({ args: ["--no-access-log", "--max-batch-size", "64"] });
try {
  const idle = await openSockets(server.port, 2000);
  // A slowloris head (never finished) is answered 408 by the same header timeout.
  const slowHead = rawRequest(server.port, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", { timeoutMs: 9000 });
  await sleep(300);
  const m0 = await metrics(server);
  // Every one was accepted: held, or (above the per-address limit, 1,024 by default) closed to make
  // room for the same address's newer connections.
  const held = m0.get("ignis_http_connections"), evicted = m0.get('ignis_http_connections_closed_total{reason="evicted_idle"}');
  check(held >= 1000 && held + evicted >= 2000, `2,000 idle sockets accepted (${held} held, ${evicted} evicted)`);
  const hs = await health(server);
  check(hs.every((s) => s === 200), "health checks answer 200 beside 2,000 idle sockets", hs.join(","));
  const comp = await request(server, "POST", "/v1/completions", { prompt: "hello", max_tokens: 3 });
  check(comp.status === 200 && comp.json.usage.completion_tokens === 3, "a normal request is served beside them", comp.text.slice(0, 200));
  const S = 100;
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, threads(server.proc.pid)); }, 50);
  const oks = await Promise.all(Array.from({ length: S }, (_, i) => stream(server, i)));
  clearInterval(sampler);
  check(oks.every(Boolean), `${S} concurrent streams complete beside 2,000 idle sockets`, `${oks.filter((x) => !x).length} failed`);
  // main + engine + 1 I/O loop + workers (2-8) + the runtime's own pools; not one per stream.
  console.log(`admission: peak ${peak} server threads during ${S} streams beside 2,000 sockets`);
  check(peak > 0 && peak < 40, `threads stay bounded during ${S} streams + 2,000 sockets (peak ${peak})`);
  // The header timeout (5 s by default) closes sockets that never sent a request.
  const t0 = Date.now();
  while (idle.closed() < 2000 && Date.now() - t0 < 9000) await sleep(200);
  check(idle.closed() === 2000, `the idle sockets are closed by the header timeout (${idle.closed()}/2000 in ${Date.now() - t0} ms)`);
  const slow = await slowHead;
  check(/^HTTP\/1\.1 408/.test(slow), "an unfinished request head gets 408 at the header timeout", slow.slice(0, 120));
  const m1 = await metrics(server);
  check(m1.get('ignis_http_connections_closed_total{reason="timeout"}') + m1.get('ignis_http_connections_closed_total{reason="evicted_idle"}') >= 2000,
    "timeouts and evictions are counted",
    m1.text.split("\n").filter((l) => l.startsWith("ignis_http")).join(" "));
  idle.destroy();
} catch (e) {
  check(false, "unexpected exception (A)", e.stack);
} finally {
  const ex = await server.stop();
  check(ex.code === 0, "server exits 0 after SIGTERM (A)", JSON.stringify(ex));
}

// B. Eviction and the health reserve.
server = await startServer({ args: ["--no-access-log", "--max-connections", "30", "--max-connections-per-client", "0", "--reserve-connections", "4"] });
try {
  const idle = await openSockets(server.port, 100);
  const t0 = Date.now();
  while (idle.closed() < 70 && Date.now() - t0 < 3000) await sleep(50);
  check(idle.closed() >= 70, `at the limit the oldest idle connections make room (${idle.closed()} of 100 closed)`);
  const ok = await request(server, "POST", "/v1/completions", { prompt: "room", max_tokens: 2 });
  check(ok.status === 200, "a new client is served at the limit (an idle one is evicted)", ok.text.slice(0, 200));
  const m = await metrics(server);
  check(m.get('ignis_http_connections_closed_total{reason="evicted_idle"}') >= 70, "evictions are counted");
  idle.destroy();
  await sleep(200);
  // 30 connections that are busy (a request head with its body still coming): nothing to evict.
  const busy = await openSockets(server.port, 30, "POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
  await sleep(300);
  const hs = await health(server);
  check(hs.every((s) => s === 200), "every slot busy: health checks are answered from the reserve", hs.join(","));
  const refused = await request(server, "POST", "/v1/completions", { prompt: "x", max_tokens: 2 }).catch((e) => ({ status: 0, text: String(e) }));
  check(refused.status === 503 && refused.headers.get("retry-after") === "1", "every slot busy: other requests get 503 + Retry-After", `${refused.status} ${refused.text}`);
  busy.destroy();
} catch (e) {
  check(false, "unexpected exception (B)", e.stack);
} finally {
  const ex = await server.stop();
  check(ex.code === 0, "server exits 0 after SIGTERM (B)", JSON.stringify(ex));
}

// C. Per-client limit.
server = await startServer({ args: ["--no-access-log", "--max-connections-per-client", "5", "--reserve-connections", "0"] });
try {
  const busy = await openSockets(server.port, 5, "POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
  await sleep(200);
  const r = await request(server, "GET", "/v1/models").catch((e) => ({ status: 0, text: String(e) }));
  check(r.status === 503 && /this address/.test(r.text), "a client at its per-address limit with none idle gets 503", `${r.status} ${r.text}`);
  busy.destroy();
  await sleep(300);
  check((await request(server, "GET", "/v1/models")).status === 200, "served again once its connections closed");
} catch (e) {
  check(false, "unexpected exception (C)", e.stack);
} finally {
  const ex = await server.stop();
  check(ex.code === 0, "server exits 0 after SIGTERM (C)", JSON.stringify(ex));
}
finish("admission");
