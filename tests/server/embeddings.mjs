// POST /v1/embeddings through the official `openai` npm client: `ignis serve --embedding-model`
// with the tiny BERT checkpoint of tests/data/encoder/models/bert_mean; vectors within 1e-4 of
// sentence-transformers' goldens, base64 = the float output, token-id input, usage, 400, 401.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, request, check, finish, requireModule } from "./lib.mjs";

const OpenAI = requireModule("openai").default ?? requireModule("openai");
const here = path.dirname(fileURLToPath(import.meta.url));
const embDir = path.resolve(here, "../data/encoder/models/bert_mean");
const golden = JSON.parse(fs.readFileSync(path.join(embDir, "golden.json"), "utf8"));
const KEY = "sk-embed";
const server = await startServer({ args: ["--api-key", KEY, "--embedding-model", embDir] });
try {
  const client = new OpenAI({ apiKey: KEY, baseURL: server.url + "/v1", maxRetries: 0 });
  const models = await client.models.list();
  check(models.data.some((m) => m.id === "bert_mean"), "models.list names the embedding model", JSON.stringify(models.data));

  const texts = golden.sentences.slice(0, 3);
  const r = await client.embeddings.create({ model: "bert_mean", input: texts, encoding_format: "float" });
  check(r.object === "list" && r.data.length === 3 && r.model === "bert_mean", "embeddings list shape", JSON.stringify(r).slice(0, 300));
  let maxErr = 0;
  r.data.forEach((d, i) => {
    check(d.index === i && d.object === "embedding", `item ${i} index/object`);
    d.embedding.forEach((v, k) => { maxErr = Math.max(maxErr, Math.abs(v - golden.embeddings[i][k])); });
  });
  check(maxErr < 1e-4, "embeddings within 1e-4 of sentence-transformers", String(maxErr));
  const ntok = golden.ids.slice(0, 3).reduce((a, ids) => a + ids.length, 0);
  check(r.usage.prompt_tokens === ntok && r.usage.total_tokens === ntok, "usage counts the tokens", JSON.stringify(r.usage));

  // The client's default asks for base64 and decodes it to floats: identical to the float response.
  const b = await client.embeddings.create({ model: "bert_mean", input: texts[0] });
  check(b.data[0].embedding.length === r.data[0].embedding.length &&
        b.data[0].embedding.every((v, k) => Math.abs(v - r.data[0].embedding[k]) < 1e-6), "base64 decodes to the float vector");

  const t = await client.embeddings.create({ model: "bert_mean", input: [golden.ids[1]], encoding_format: "float" });
  check(t.data[0].embedding.every((v, k) => Math.abs(v - r.data[1].embedding[k]) < 1e-5), "token-id input = its text's vector");
  check(t.usage.prompt_tokens === golden.ids[1].length, "token-id usage");

  // 24 requests at once (cross-request batching): each gets its own texts' vectors, within 1e-5 of
  // the same texts embedded alone, in its own order; /metrics shows the encoder calls they shared.
  const all = golden.sentences.filter((s) => s.length > 0);
  const alone = await client.embeddings.create({ model: "bert_mean", input: all, encoding_format: "float" });
  const jobs = [];
  for (let i = 0; i < 24; i++) {
    const pick = [all[i % all.length], all[(i * 7 + 3) % all.length]];
    jobs.push(client.embeddings.create({ model: "bert_mean", input: pick, encoding_format: "float" }).then((res) => ({ i, res })));
  }
  let worst = 0;
  for (const { i, res } of await Promise.all(jobs)) {
    check(res.data.length === 2 && res.data[0].index === 0 && res.data[1].index === 1, `concurrent request ${i}: two items in order`);
    [i % all.length, (i * 7 + 3) % all.length].forEach((s, k) =>
      res.data[k].embedding.forEach((v, d) => { worst = Math.max(worst, Math.abs(v - alone.data[s].embedding[d])); }));
  }
  check(worst < 1e-5, "concurrent requests get their own texts' vectors", String(worst));
  const metrics = await request(server, "GET", "/metrics", undefined, { authorization: `Bearer ${KEY}` });
  const calls = Number((/^ignis_embedding_calls_total (\d+)/m.exec(metrics.text) || [])[1]);
  const inputs = Number((/^ignis_embedding_inputs_total (\d+)/m.exec(metrics.text) || [])[1]);
  check(inputs >= 48 + all.length + 4 && calls >= 1 && calls <= inputs, "/metrics counts embedding calls and inputs",
        `${calls} calls, ${inputs} inputs`);
  console.log(`concurrent embeddings: ${calls} encoder calls for ${inputs} inputs so far`);

  const auth = { authorization: `Bearer ${KEY}` };
  for (const body of [{ model: "bert_mean", input: [] }, { model: "bert_mean", input: "" }, { model: "bert_mean", input: 3 },
                      { model: "bert_mean", input: "a", dimensions: 2 }, { model: "bert_mean", input: "a", foo: 1 }]) {
    const res = await request(server, "POST", "/v1/embeddings", body, auth);
    check(res.status === 400, "bad body -> 400: " + JSON.stringify(body), JSON.stringify(res));
  }
  const noKey = await request(server, "POST", "/v1/embeddings", { model: "bert_mean", input: "a" });
  check(noKey.status === 401, "no key -> 401", String(noKey.status));
} finally {
  await server.stop();
}
finish("embeddings");
