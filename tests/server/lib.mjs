// Shared helpers of the ignis server tests: a tiny dummy-weight Llama with the
// Mistral tokenizer, starting/stopping `ignis serve` on a free loopback port,
// HTTP helpers and a small check() that counts failures.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { createRequire } from "node:module";

export const IGNIS_BIN = process.env.IGNIS_BIN;
export const ASSETS = process.env.IGNIS_ASSETS_DIR;
export const NODE_MODULES = process.env.IGNIS_NODE_MODULES;
if (!IGNIS_BIN || !ASSETS) {
  console.error("set IGNIS_BIN and IGNIS_ASSETS_DIR");
  process.exit(2);
}
// IGNIS_NODE_MODULES: the folder setup_node.sh installed into (it holds node_modules/).
export const requireModule = createRequire(path.resolve(NODE_MODULES || ".", "package.json"));

// A watchdog under ctest's TIMEOUT: a request that hangs fails the test with the last check that
// ran and the running servers' logs instead of a silent kill.
const liveServers = new Set();
let lastCheck = "(none yet)";
const DEADLINE_S = Number(process.env.IGNIS_TEST_DEADLINE_S || 200);
setTimeout(() => {
  console.error(`FAIL: still running after ${DEADLINE_S} s; the last check was: ${lastCheck}`);
  for (const s of liveServers) {
    console.error(`--- server on port ${s.port}, last of its log:\n${s.log().slice(-4000)}`);
    s.proc.kill("SIGKILL");
  }
  process.exit(1);
}, DEADLINE_S * 1000).unref();

// A small Mistral-style template that writes BOS itself (exercises the double-BOS rule).
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}" +
  "{{ message['content'] + eos_token }}{% else %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% endfor %}";

export function makeModel({ maxPos = 512, chatTemplate = CHAT_TEMPLATE } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ignis-srv-model-"));
  const tokDir = path.join(ASSETS, "tokenizer-mistral", "models");
  fs.copyFileSync(path.join(tokDir, "tokenizer.json"), path.join(dir, "tokenizer.json"));
  const tc = JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer_config.json"), "utf8"));
  tc.chat_template = chatTemplate;
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tc));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", vocab_size: 32000, hidden_size: 64,
    intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    max_position_embeddings: maxPos, rms_norm_eps: 1e-5, rope_theta: 10000.0, torch_dtype: "float32",
    bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: false,
  }));
  return dir;
}

// Starts `ignis serve` on a free port; resolves once it prints its address.
// `shipped: true` serves a model folder of the repository as it is (its weights, its name; the folder
// is left in place at stop).
export async function startServer({ args = [], env = {}, model, shipped = false } = {}) {
  const dir = model || makeModel();
  const load = shipped ? [] : ["--load-format", "dummy", "--served-model-name", "tiny"];
  const proc = spawn(IGNIS_BIN, ["serve", "--model", dir, ...load, "--device", "cpu",
    "--port", "0", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "pipe"] });
  let log = "";
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start in 60 s:\n" + log)), 60000);
    proc.stderr.on("data", (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening:\n${log}`)); });
  });
  const server = {
    port, proc, dir, exited,
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      liveServers.delete(server);
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const r = await exited;
      if (!shipped) fs.rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  liveServers.add(server);
  return server;
}

// fetch + JSON with status.
export async function request(server, method, p, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!init.headers["content-type"]) init.headers["content-type"] = "application/json";
  }
  const r = await fetch(server.url + p, init);
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// Raw bytes over a socket (for malformed HTTP); resolves with the response text.
export function rawRequest(port, bytes, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let out = "";
    const done = () => { sock.destroy(); resolve(out); };
    const timer = setTimeout(done, timeoutMs);
    sock.on("connect", () => sock.write(bytes));
    sock.on("data", (d) => { out += d.toString("latin1"); });
    sock.on("error", () => {});
    sock.on("close", () => { clearTimeout(timer); resolve(out); });
  });
}

export async function metrics(server, headers = {}) {
  const r = await fetch(server.url + "/metrics", { headers });
  const text = await r.text();
  const get = (name) => {
    const m = text.match(new RegExp("^" + name + " (\\S+)$", "m"));
    return m ? Number(m[1]) : NaN;
  };
  return { text, get };
}

// Waits until every KV block is free again (cancellations finish at the next step).
export async function waitBlocksFree(server, headers = {}, timeoutMs = 20000) {
  const t0 = Date.now();
  let m;
  for (;;) {
    m = await metrics(server, headers);
    if (m.get("ignis_kv_blocks_used") === 0 && m.get("ignis_running_sequences") === 0 && m.get("ignis_queue_depth") === 0) return m;
    if (Date.now() - t0 > timeoutMs) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
}

let failures = 0, checks = 0;
export function check(cond, what, detail = "") {
  checks++;
  lastCheck = what;
  if (cond) return true;
  failures++;
  console.error(`FAIL: ${what}${detail ? "\n  " + String(detail).slice(0, 600) : ""}`);
  return false;
}
export function finish(name) {
  console.log(`${name}: ${checks - failures}/${checks} checks passed`);
  process.exit(failures ? 1 : 0);
}

// Parses an SSE body into the JSON payloads (and "[DONE]").
export function parseSSE(text) {
  return text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => {
    const d = e.slice(6);
    return d === "[DONE]" ? d : JSON.parse(d);
  });
}
