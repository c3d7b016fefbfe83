// Scale measurement (not a CI test; issue 23 item 3): one `ignis serve` on the CPU demo model,
//  1. CONNS (10,000) concurrent idle connections: server threads, RSS and RSS per connection;
//  2. STREAMS (2,000) concurrent streaming completions (raw sockets, each reads its whole SSE
//     stream): peak server threads and RSS while they run, completion count, wall time.
// Prints one JSON line of figures. Run from the repository root:
//   IGNIS_BIN=build/bin/ignis IGNIS_ASSETS_DIR=assets node tests/server/scale.mjs
// (MODEL, CONNS, STREAMS, MAX_TOKENS override; the server gets limits that fit them.)
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import { startServer } from "./lib.mjs";

const MODEL = process.env.MODEL || "models/demo";
const CONNS = Number(process.env.CONNS || 10000);
const STREAMS = Number(process.env.STREAMS || 2000);
const MAX_TOKENS = Number(process.env.MAX_TOKENS || 16);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const status = (pid) => {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return { threads: Number(s.match(/^Threads:\s+(\d+)/m)[1]), rss_kb: Number(s.match(/^VmRSS:\s+(\d+)/m)[1]) };
};

// Kernel TCP memory (pages, machine-wide: both ends of loopback connections count).
const tcpPages = () => Number(fs.readFileSync("/proc/net/sockstat", "utf8").match(/^TCP:.* mem (\d+)/m)[1]);

const server = await startServer({
  model: MODEL, shipped: true,
  args: ["--no-access-log", "--max-connections", String(CONNS + STREAMS + 100), "--max-connections-per-client", "0",
    "--header-timeout", "600", "--keep-alive-timeout", "600", "--max-queue", String(STREAMS + 100)],
});
const pid = server.proc.pid;
const out = { date: new Date().toISOString(), host: `${os.cpus().length} cores, ${os.type()} ${os.release()}`, model: MODEL };
try {
  await fetch(server.url + "/v1/completions", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "warm up", max_tokens: 2 }) }).then((r) => r.text());
  await sleep(500);
  out.base = status(pid);
  const tcp0 = tcpPages();

  // 1. Idle connections.
  const socks = [];
  const t0 = Date.now();
  for (let i = 0; i < CONNS; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, CONNS - i) }, () => new Promise((resolve) => {
      const s = net.connect(server.port, "127.0.0.1");
      s.on("connect", resolve);
      s.on("error", resolve);
      socks.push(s);
    })));
  }
  await sleep(1000);
  const idle = status(pid);
  const tcpKb = (tcpPages() - tcp0) * 4;
  const health = await fetch(server.url + "/health").then((r) => r.status);
  const open = Number((await (await fetch(server.url + "/metrics")).text()).match(/^ignis_http_connections (\d+)/m)[1]);
  out.idle = { conns: CONNS, open_on_server: open, connect_s: (Date.now() - t0) / 1000, ...idle,
    kb_per_conn: +((idle.rss_kb - out.base.rss_kb) / CONNS).toFixed(2),
    kernel_tcp_kb_per_conn: +(tcpKb / CONNS).toFixed(2), health };
  socks.forEach((s) => s.destroy());
  await sleep(1500);

  // 2. Concurrent streams.
  const before = status(pid);
  let peak = { threads: 0, rss_kb: 0 };
  const sampler = setInterval(() => {
    const s = status(pid);
    peak = { threads: Math.max(peak.threads, s.threads), rss_kb: Math.max(peak.rss_kb, s.rss_kb) };
  }, 100);
  // Health checks keep being answered while the streams run: their worst latency.
  let healthMax = 0, healthBad = 0, probing = true;
  const prober = (async () => {
    while (probing) {
      const h0 = Date.now();
      const st = await fetch(server.url + "/health").then((r) => r.status).catch(() => 0);
      healthMax = Math.max(healthMax, Date.now() - h0);
      if (st !== 200) healthBad++;
      await sleep(200);
    }
  })();
  const t1 = Date.now();
  let firstByteAll = 0;
  let started = 0;
  const results = await Promise.all(Array.from({ length: STREAMS }, (_, i) => new Promise((resolve) => {
    const body = JSON.stringify({ prompt: `stream ${i} says`, max_tokens: MAX_TOKENS, ignore_eos: true, stream: true });
    const s = net.connect(server.port, "127.0.0.1");
    let text = "", first = false;
    s.on("connect", () => s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
    s.on("data", (d) => {
      if (!first) { first = true; if (++started === STREAMS) firstByteAll = Date.now() - t1; }
      text += d.toString();
    });
    s.on("error", () => {});
    s.on("close", () => resolve(text.startsWith("HTTP/1.1 200") && text.includes("data: [DONE]")));
  })));
  clearInterval(sampler);
  probing = false;
  await prober;
  out.streams = { health_max_ms: healthMax, health_failed: healthBad, streams: STREAMS, max_tokens: MAX_TOKENS, completed: results.filter(Boolean).length, wall_s: (Date.now() - t1) / 1000,
    all_started_s: firstByteAll / 1000, before, peak, kb_per_stream: +((peak.rss_kb - before.rss_kb) / STREAMS).toFixed(2) };
} finally {
  const ex = await server.stop();
  out.exit = ex.code;
}
console.log(JSON.stringify(out));
