// Chat with your documents over HTTP: `ignis serve --docs DIR --embedding-model models/encoder-mini`
// with the shipped chat demo. Upload (text, and base64: a subtitle file and a two-page pdf), list
// with chunk counts, ask with streaming (the sources come first and point at the right file, line,
// page, heading, cue), the non-streaming and messages forms, the same answer as `ignis rag ask`,
// delete, concurrent questions during an upload, and the refusals: path traversal, hidden names,
// other types, size limit, unreadable content, symlinks out of the folder, bad bodies, no key, no
// --docs; and a BM25-only index when there is no embedding model.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, request, parseSSE, check, finish, metrics, IGNIS_BIN } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODEL = path.resolve(here, "../../models/chat-demo");
const ENCODER = path.resolve(here, "../../models/encoder-mini");
if (!fs.existsSync(path.join(MODEL, "tokenizer.json"))) {
  console.log(`documents: SKIPPED (${MODEL} has no tokenizer.json: run scripts/fetch-assets.sh)`);
  process.exit(0);
}
// A minimal PDF written by hand (as tests/rag/test_parse_pdf.cpp does): one text line per page.
function makePdf(pages) {
  const objs = ["<< /Type /Catalog /Pages 2 0 R >>"];
  const font = 3 + 2 * pages.length;
  objs.push(`<< /Type /Pages /Kids [${pages.map((_, i) => `${3 + 2 * i} 0 R`).join(" ")}] /Count ${pages.length} >>`);
  pages.forEach((text, i) => {
    const content = `BT /F1 12 Tf 72 720 Td (${text}) Tj ET`;
    objs.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${4 + 2 * i} 0 R >>`);
    objs.push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
  });
  objs.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  let pdf = "%PDF-1.4\n";
  const offsets = objs.map((o, i) => { const at = pdf.length; pdf += `${i + 1} 0 obj\n${o}\nendobj\n`; return at; });
  const xref = pdf.length;
  pdf += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n` + offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("");
  pdf += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, "latin1");
}
const KEY = "doc-key";
const auth = { Authorization: `Bearer ${KEY}` };
const root = fs.mkdtempSync(path.join(os.tmpdir(), "ignis-docs-"));
const docs = path.join(root, "docs");
fs.mkdirSync(docs);
fs.writeFileSync(path.join(docs, "ops.txt"),
  "\n\nThe backup encryption keys are rotated every ninety days by the storage team.\n\n" +
  "Incidents are reported in the on-call channel within fifteen minutes.\n");
fs.writeFileSync(path.join(docs, "garden.md"),
  "# Garden\n\nTomatoes need six hours of sun and deep watering twice a week.\n\n## Compost\n\nTurn the compost heap every month.\n");

const server = await startServer({ model: MODEL, shipped: true,
  args: ["--api-key", KEY, "--docs", docs, "--embedding-model", ENCODER, "--max-document-mb", "0.05", "--no-access-log"] });
const ask = (body) => request(server, "POST", "/v1/rag/chat", body, auth);
try {
  check(/documents in .*: 2 files/.test(server.log()), "the index is built at start", server.log());
  check(fs.existsSync(path.join(docs, ".ignis-index", "index.sqlite")), "default index under DOCS/.ignis-index");

  // ---- list ----
  check((await request(server, "GET", "/v1/documents")).status === 401, "GET /v1/documents without the key -> 401");
  let list = await request(server, "GET", "/v1/documents", undefined, auth);
  check(list.status === 200 && list.json.object === "list", "list answers", list.text);
  check(list.json.data.map((f) => f.name).join(",") === "garden.md,ops.txt", "list names the indexed files", list.text);
  check(list.json.data.every((f) => f.chunks >= 1 && f.bytes > 0), "list has chunk counts and sizes", list.text);
  check(list.json.retrieval === "hybrid" && /^encoder-mini@/.test(list.json.embedding_model), "dense + BM25 index", list.text);

  // ---- upload ----
  const up = await request(server, "POST", "/v1/documents",
    { name: "llamas.md", content: "# Andes\n\nLlamas graze on the high plateaus of the Andes mountains.\n" }, auth);
  check(up.status === 201 && up.json.name === "llamas.md" && up.json.chunks === 1 && up.json.replaced === false,
    "upload (text) -> 201 with its chunks", up.text);
  check(fs.readFileSync(path.join(docs, "llamas.md"), "utf8").startsWith("# Andes"), "stored in the docs folder");
  const vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nThe glacier retreats forty meters each summer.\n";
  const up2 = await request(server, "POST", "/v1/documents",
    { name: "talk.vtt", content_base64: Buffer.from(vtt).toString("base64") }, auth);
  check(up2.status === 201 && up2.json.format === "vtt" && up2.json.chunks === 1, "upload (base64) -> 201", up2.text);
  const pdf = await request(server, "POST", "/v1/documents", { name: "manual.pdf",
    content_base64: makePdf(["Chapter one is an introduction.", "The pump pressure must stay below four bar."]).toString("base64") }, auth);
  check(pdf.status === 201 && pdf.json.format === "pdf" && pdf.json.chunks === 2, "upload (pdf, base64) -> 201, a chunk per page", pdf.text);
  const again = await request(server, "POST", "/v1/documents",
    { name: "llamas.md", content: "# Andes\n\nLlamas graze on the high plateaus of the Andes mountains, says the guide.\n" }, auth);
  check(again.status === 200 && again.json.replaced === true, "re-upload replaces -> 200", again.text);
  list = await request(server, "GET", "/v1/documents", undefined, auth);
  check(list.json.data.map((f) => f.name).join(",") === "garden.md,llamas.md,manual.pdf,ops.txt,talk.vtt" && list.json.files === 5,
    "the uploads are listed", list.text);
  check(!fs.readdirSync(docs).some((n) => n.startsWith(".ignis-upload")), "no temporary files left", fs.readdirSync(docs).join(","));

  // ---- ask, streaming: the sources first, then the answer ----
  const r = await fetch(server.url + "/v1/rag/chat", { method: "POST", headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ question: "How often are the backup encryption keys rotated?", stream: true, max_tokens: 12,
                           top_k: 2, retrieval: "lexical", temperature: 0, stream_options: { include_usage: true } }) });
  check(r.status === 200 && /text\/event-stream/.test(r.headers.get("content-type")), "stream answers SSE", String(r.status));
  const events = parseSSE(await r.text());
  const first = events[0];
  check(Array.isArray(first.sources) && first.sources.length >= 1, "the first event carries the sources", JSON.stringify(first));
  const top = first.sources[0] || {};
  check(top.index === 1 && top.file === "ops.txt" && top.line === 3, "the top source is ops.txt, line 3", JSON.stringify(top));
  check(/rotated every ninety days/.test(top.text) && /rotated every ninety days/.test(top.snippet) && /^ops\.txt, line 3/.test(top.citation),
    "the source has the chunk's text, a snippet and the citation", JSON.stringify(top));
  check(first.choices[0].delta.role === "assistant", "first event has the role", JSON.stringify(first));
  const deltas = events.filter((e) => e !== "[DONE]" && e.choices && e.choices[0] && e.choices[0].delta && e.choices[0].delta.content);
  check(deltas.length >= 2, "the answer streams in several events", JSON.stringify(events).slice(0, 400));
  const fin = events.find((e) => e.choices && e.choices[0] && e.choices[0].finish_reason);
  check(fin && fin.choices[0].finish_reason === "length", "a finish_reason ends it", JSON.stringify(events.slice(-3)));
  const usage = events.find((e) => e.usage);
  check(usage && usage.usage.completion_tokens === 12 && usage.usage.prompt_tokens > 20, "usage event", JSON.stringify(usage));
  check(events[events.length - 1] === "[DONE]", "[DONE] at the end");

  // ---- ask, not streaming, messages form; hybrid retrieval ----
  const ns = await ask({ messages: [{ role: "user", content: "Hello" }, { role: "assistant", content: "Hi." },
                                    { role: "user", content: "Where do llamas graze?" }], max_tokens: 8, top_k: 3 });
  check(ns.status === 200 && ns.json.object === "chat.completion" && typeof ns.json.choices[0].message.content === "string",
    "non-streaming answer", ns.text);
  check(ns.json.sources.length === 3 && ns.json.sources.some((s) => s.file === "llamas.md"), "hybrid sources include llamas.md", ns.text);
  const lv = await ask({ question: "glacier retreats meters", max_tokens: 4, top_k: 1, retrieval: "lexical" });
  check(lv.status === 200 && lv.json.sources[0].file === "talk.vtt" && lv.json.sources[0].anchor === "00:00:01.000",
    "a subtitle source has its cue time", lv.text);
  const pg = await ask({ question: "pump pressure bar", max_tokens: 4, top_k: 1, retrieval: "lexical" });
  check(pg.status === 200 && pg.json.sources[0].file === "manual.pdf" && pg.json.sources[0].page === 2 &&
        /^manual\.pdf, page 2/.test(pg.json.sources[0].citation), "a pdf source has its page", pg.text);
  const gm = await ask({ question: "how often to turn the compost", max_tokens: 4, top_k: 1, retrieval: "lexical" });
  check(gm.status === 200 && gm.json.sources[0].file === "garden.md" && gm.json.sources[0].heading === "Garden" &&
        gm.json.sources[0].line === 3,
    "a markdown source has its heading", gm.text);

  // The same prompt as `ignis rag ask` (greedy: the same answer and the same sources).
  const q = "How often are the backup encryption keys rotated?";
  const cli = execFileSync(IGNIS_BIN, ["rag", "ask", "--index", path.join(docs, ".ignis-index"), "--retrieval", "lexical",
    "--top-k", "2", "--model", MODEL, "--device", "cpu", "--temperature", "0", "--max-tokens", "12", q], { encoding: "utf8" });
  const sv = await ask({ question: q, retrieval: "lexical", top_k: 2, temperature: 0, max_tokens: 12 });
  const cliAnswer = cli.slice(0, cli.indexOf("\n\nSources:\n"));
  const cliSources = cli.slice(cli.indexOf("\n\nSources:\n") + 11).trim().split("\n");
  check(sv.status === 200 && sv.json.choices[0].message.content === cliAnswer, "the answer is `ignis rag ask`'s",
    JSON.stringify({ server: sv.json && sv.json.choices[0].message.content, cli: cliAnswer }));
  check(sv.json.sources.map((s) => `[${s.index}] ${s.citation}`).join("\n") === cliSources.join("\n"), "the sources are `ignis rag ask`'s",
    JSON.stringify({ server: sv.json.sources.map((s) => s.citation), cli: cliSources }));

  // ---- concurrent questions during an upload ----
  // The upload has ~20 chunks to embed (several encoder batches); questions (hybrid ones embed their
  // query between those batches) answer from the index meanwhile, and some finish before it does.
  let zebra = "Zebras have black and white stripes.\n\n";
  for (let i = 0; zebra.length < 25000; i++) zebra += `Paragraph ${i} of the savanna notes describes grazing herds, seasonal rivers and the dry months.\n\n`;
  let uploadDone = 0;
  const upc = request(server, "POST", "/v1/documents", { name: "zebra.txt", content: zebra }, auth)
    .then((x) => { uploadDone = Date.now(); return x; });
  const qs = [];
  for (let i = 0; i < 8; i++)
    qs.push(ask({ question: "backup keys rotated", max_tokens: 4, top_k: 2, retrieval: i % 2 ? "lexical" : "hybrid" })
      .then((x) => ({ ...x, at: Date.now() })));
  const results = await Promise.all([...qs, upc]);
  const answers = results.slice(0, 8);
  check(answers.every((x) => x.status === 200 && x.json.sources.some((src) => src.file === "ops.txt")),
    "questions during an upload all answer from the index", answers.map((x) => x.status + " " + x.text.slice(0, 200)).join("\n"));
  check(results[8].status === 201 && results[8].json.chunks >= 10, "the concurrent upload is indexed", results[8].text);
  check(answers.some((x) => x.at < uploadDone), "questions answered while the upload was indexing",
    answers.map((x) => x.at - uploadDone).join(","));
  const zb = await ask({ question: "stripes zebras", max_tokens: 4, top_k: 1, retrieval: "lexical" });
  check(zb.status === 200 && zb.json.sources[0].file === "zebra.txt", "the new document is retrieved", zb.text);

  // ---- delete ----
  const del = await request(server, "DELETE", "/v1/documents/zebra.txt", undefined, auth);
  check(del.status === 200 && del.json.deleted === true && !fs.existsSync(path.join(docs, "zebra.txt")), "delete -> 200, file gone", del.text);
  const after = await ask({ question: "stripes zebras", max_tokens: 4, top_k: 4, retrieval: "lexical" });
  check(after.status === 200 && !after.json.sources.some((s) => s.file === "zebra.txt"), "a deleted document is not retrieved", after.text);
  check((await request(server, "DELETE", "/v1/documents/zebra.txt", undefined, auth)).status === 404, "delete again -> 404");
  fs.writeFileSync(path.join(root, "outside.txt"), "keep me");
  const trav = await request(server, "DELETE", "/v1/documents/..%2Foutside.txt", undefined, auth);
  check(trav.status === 404 && fs.existsSync(path.join(root, "outside.txt")), "delete ../outside.txt -> 404, untouched", trav.text);

  // A file reached through a symlinked directory is listed, but not removed from outside the folder.
  fs.mkdirSync(path.join(root, "elsewhere"));
  fs.writeFileSync(path.join(root, "elsewhere", "linked.md"), "# Linked\n\nA file outside the folder.\n");
  fs.symlinkSync(path.join(root, "elsewhere"), path.join(docs, "shelf"));
  const ri = await request(server, "POST", "/v1/documents/reindex", undefined, auth);
  check(ri.status === 200 && ri.json.data.some((f) => f.name === "shelf/linked.md"), "reindex picks up files changed on disk", ri.text);
  const out = await request(server, "DELETE", "/v1/documents/shelf/linked.md", undefined, auth);
  check(out.status === 403 && fs.existsSync(path.join(root, "elsewhere", "linked.md")),
    "delete through a symlink out of the folder -> 403, file kept", out.text);
  fs.unlinkSync(path.join(docs, "shelf"));

  // ---- refused uploads ----
  const refuse = async (body, status, what) => {
    const res = await request(server, "POST", "/v1/documents", body, auth);
    check(res.status === status && res.json && res.json.error && res.json.error.message, `${what} -> ${status}`, res.text);
    return res;
  };
  await refuse({ name: "../escape.md", content: "x" }, 400, "name ../escape.md");
  await refuse({ name: "sub/inner.md", content: "x" }, 400, "name with a slash");
  await refuse({ name: "..\\win.md", content: "x" }, 400, "name with a backslash");
  await refuse({ name: ".hidden.md", content: "x" }, 400, "hidden name");
  await refuse({ name: "a\nb.md", content: "x" }, 400, "control character in the name");
  check(!fs.existsSync(path.join(root, "escape.md")) && !fs.existsSync(path.join(docs, "sub")), "nothing written outside the folder");
  await refuse({ name: "tool.exe", content: "MZ" }, 415, "unsupported type");
  await refuse({ name: "big.txt", content: "word ".repeat(20000) }, 413, "larger than --max-document-mb");
  await refuse({ name: "b.txt", content_base64: "not*base64" }, 400, "bad base64");
  await refuse({ name: "b.txt" }, 400, "no content");
  await refuse({ content: "x" }, 400, "no name");
  await refuse({ name: "b.txt", content: "x", extra: 1 }, 400, "unknown field");
  const bad = await refuse({ name: "broken.pdf", content: "this is not a pdf" }, 422, "unreadable pdf");
  check(/pdf/.test(bad.json.error.message) && !fs.existsSync(path.join(docs, "broken.pdf")), "the unreadable file is not kept", bad.text);
  fs.writeFileSync(path.join(docs, "keep.md"), "# Keep\n\nThe first version stays.\n");
  await request(server, "POST", "/v1/documents/reindex", undefined, auth);
  await refuse({ name: "keep.md", content_base64: Buffer.from([0x41, 0xc3, 0x28, 0x42, 0x0a]).toString("base64") }, 422, "non-UTF-8 replacement");
  check(fs.readFileSync(path.join(docs, "keep.md"), "utf8").includes("first version"), "a refused replacement keeps the old file");
  const kp = await ask({ question: "first version stays", max_tokens: 4, top_k: 1, retrieval: "lexical" });
  check(kp.status === 200 && kp.json.sources[0].file === "keep.md", "the old version is still indexed", kp.text);
  const raw = await request(server, "POST", "/v1/documents", "{not json", auth);
  check(raw.status === 400, "upload with bad JSON -> 400", raw.text);

  // ---- bad questions ----
  for (const [body, what] of [
    [{}, "no question"], [{ question: "" }, "empty question"], [{ question: "   " }, "blank question"],
    [{ question: 3 }, "question not a string"], [{ question: "a", messages: [{ role: "user", content: "b" }] }, "both forms"],
    [{ messages: [] }, "empty messages"], [{ messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }] }, "last turn not the user's"],
    [{ messages: [{ role: "system", content: "x" }, { role: "user", content: "a" }] }, "a system turn"],
    [{ question: "a", top_k: 0 }, "top_k 0"], [{ question: "a", top_k: 1000 }, "top_k too large"],
    [{ question: "a", retrieval: "magic" }, "unknown retrieval"], [{ question: "a", max_tokens: 1000000 }, "max_tokens past the context"],
    [{ question: "a", stream_options: { include_usage: true } }, "stream_options without stream"],
    [{ question: "a", logprobs: true }, "unsupported field"],
  ]) {
    const res = await ask(body);
    check(res.status === 400 && res.json && res.json.error && res.json.error.message, `${what} -> 400`, res.text);
  }
  const badJson = await request(server, "POST", "/v1/rag/chat", "{\"question\": ", auth);
  check(badJson.status === 400 && /JSON/.test(badJson.json.error.message), "bad JSON -> 400", badJson.text);
  check((await ask({ question: "a", model: "other" })).status === 404, "unknown model -> 404");
  check((await request(server, "POST", "/v1/rag/chat", { question: "a" })).status === 401, "no key -> 401");
  check((await request(server, "GET", "/v1/rag/chat", undefined, auth)).status === 405, "GET /v1/rag/chat -> 405");

  const m = await metrics(server, auth);
  check(m.get('ignis_requests_total{outcome="documents"}') >= 5, "metrics count the document requests",
    m.text.split("\n").filter((l) => /requests_total/.test(l)).join("\n"));
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  await server.stop();
}

// No --docs: the endpoints say how to enable them.
const plain = await startServer({ args: ["--no-access-log"] });
try {
  const r = await request(plain, "POST", "/v1/rag/chat", { question: "anything" });
  check(r.status === 404 && /--docs/.test(r.json.error.message), "no --docs: /v1/rag/chat -> 404 naming --docs", r.text);
  const l = await request(plain, "GET", "/v1/documents");
  check(l.status === 404 && /--docs/.test(l.json.error.message), "no --docs: /v1/documents -> 404", l.text);
} finally {
  await plain.stop();
}
// --docs without an embedding model: a BM25-only index in a folder created at start.
const lexDocs = path.join(root, "new-folder");
const lex = await startServer({ args: ["--docs", lexDocs, "--no-access-log"] });
try {
  check(fs.existsSync(lexDocs), "--docs creates a missing folder");
  const l = await request(lex, "GET", "/v1/documents");
  check(l.status === 200 && l.json.retrieval === "lexical" && l.json.embedding_model === null && l.json.files === 0,
    "no embedding model: an empty lexical index", l.text);
  const up = await request(lex, "POST", "/v1/documents", { name: "x.md", content: "Quartz is a hard mineral.\n" });
  check(up.status === 201, "upload into the lexical index", up.text);
  const h = await request(lex, "POST", "/v1/rag/chat", { question: "quartz mineral", max_tokens: 4 });
  check(h.status === 200 && h.json.sources[0].file === "x.md" && /lexical retrieval only/.test(h.json.note),
    "hybrid falls back to BM25 and says so", h.text);
  const d = await request(lex, "POST", "/v1/rag/chat", { question: "quartz", retrieval: "dense", max_tokens: 4 });
  check(d.status === 400 && /embedding model/.test(d.json.error.message), "dense on a lexical index -> 400", d.text);
} finally {
  await lex.stop();
}
fs.rmSync(root, { recursive: true, force: true });
finish("documents");
