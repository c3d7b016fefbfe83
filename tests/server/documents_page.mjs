// The chat page's documents mode in headless Chromium (Debian's /usr/bin/chromium driven by the
// pinned puppeteer-core) against `ignis serve --docs`: the list of indexed files, an upload through
// the file chooser, a question whose streamed answer ends with clickable sources (a click shows the
// chunk's text and position), removing a document, a refused upload's message, and chat mode still
// answering beside it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, check, finish, requireModule } from "./lib.mjs";

const CHROMIUM = process.env.IGNIS_CHROMIUM || "/usr/bin/chromium";
if (!fs.existsSync(CHROMIUM)) {
  console.log(`documents_page: SKIPPED (no ${CHROMIUM}; scripts/setup.sh installs Debian's chromium)`);
  process.exit(0);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const MODEL = path.resolve(here, "../../models/chat-demo");
const ENCODER = path.resolve(here, "../../models/encoder-mini");
if (!fs.existsSync(path.join(MODEL, "tokenizer.json"))) {
  console.log(`documents_page: SKIPPED (${MODEL} has no tokenizer.json: run scripts/fetch-assets.sh)`);
  process.exit(0);
}
const puppeteer = requireModule("puppeteer-core");
const KEY = "page-docs-key";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "ignis-docs-page-"));
const docs = path.join(root, "docs"), uploads = path.join(root, "uploads");
fs.mkdirSync(docs);
fs.mkdirSync(uploads);
fs.writeFileSync(path.join(docs, "ops.txt"), "\n\nThe backup encryption keys are rotated every ninety days.\n");
fs.writeFileSync(path.join(uploads, "llamas.md"), "# Andes\n\nLlamas graze on the high plateaus of the Andes mountains.\n");
fs.writeFileSync(path.join(uploads, "tool.exe"), "MZ");

const server = await startServer({ model: MODEL, shipped: true,
  args: ["--api-key", KEY, "--docs", docs, "--embedding-model", ENCODER, "--no-access-log"] });
let browser;
try {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url + "/", { waitUntil: "load" });
  await page.type("#api_key", KEY);
  await page.click("#mode_docs");
  await page.waitForSelector('#doc_list li[data-name="ops.txt"]', { timeout: 10000 });
  check(await page.$eval("#docs_panel", (e) => !e.hidden) && await page.$eval("#log", (e) => e.hidden),
    "documents mode shows the documents panel");
  check(/1 chunk/.test(await page.$eval('#doc_list li[data-name="ops.txt"]', (e) => e.textContent)), "the list shows chunk counts");

  // Upload through the file chooser.
  const chooser = await page.$("#doc_file");
  await chooser.uploadFile(path.join(uploads, "llamas.md"));
  await page.waitForSelector('#doc_list li[data-name="llamas.md"]', { timeout: 20000 });
  check(fs.existsSync(path.join(docs, "llamas.md")), "the uploaded file is in the docs folder");
  check(/2 files/.test(await page.$eval("#doc_status", (e) => e.textContent)), "the status counts the files");

  // Ask: the sources appear first (with the first event), then the answer streams in above them.
  await page.$eval("#max_tokens", (el) => { el.value = "16"; });
  await page.$eval("#top_k", (el) => { el.value = "2"; });
  await page.type("#input", "Where do llamas graze?");
  await page.click("#send");
  await page.waitForFunction(() => {
    const a = document.querySelectorAll("#doc_log .msg.assistant");
    return (a.length && a[a.length - 1].dataset.state === "done") || document.querySelector("#doc_log .msg.error");
  }, { timeout: 30000 });
  const state = await page.evaluate(() => ({
    error: document.querySelector("#doc_log .msg.error") && document.querySelector("#doc_log .msg.error").textContent,
    user: [...document.querySelectorAll("#doc_log .msg.user")].map((e) => e.textContent),
    sources: [...document.querySelectorAll("#doc_log .msg.assistant .sources a")].map((a) => ({ file: a.dataset.file, text: a.textContent })),
    answer: document.querySelector("#doc_log .msg.assistant") && document.querySelector("#doc_log .msg.assistant").textContent,
    tokens: document.getElementById("stats").dataset.tokens,
    sourcesAt: document.querySelector("#doc_log .msg.assistant") && document.querySelector("#doc_log .msg.assistant").dataset.sourcesAt,
  }));
  check(!state.error, "no error shown", state.error);
  check(state.user[0] === "Where do llamas graze?", "the question is shown");
  check(state.sources.length === 2 && state.sources.some((s) => s.file === "llamas.md" && /llamas\.md, line 3/.test(s.text)),
    "the answer lists its sources with file and line", JSON.stringify(state.sources));
  check(Number(state.tokens) === 16, "the answer streamed 16 tokens", state.tokens);
  check(state.sourcesAt === "0", "the sources were shown before the first token", state.sourcesAt);
  check(state.answer.length > state.sources.map((s) => s.text).join("").length, "answer text above the sources", state.answer);

  // A click on a citation shows the chunk and its position.
  await page.click('#doc_log .sources a[data-file="llamas.md"]');
  const view = await page.evaluate(() => {
    const v = document.getElementById("source_view");
    return { hidden: v.hidden, where: v.querySelector(".where").textContent, text: v.querySelector(".text").textContent };
  });
  check(!view.hidden && /llamas\.md, line 3/.test(view.where) && /high plateaus of the Andes/.test(view.text),
    "clicking a citation shows the chunk text and position", JSON.stringify(view));

  // A refused upload says why.
  await chooser.uploadFile(path.join(uploads, "tool.exe"));
  await page.waitForSelector("#doc_status.bad", { timeout: 10000 });
  check(/not a document type/.test(await page.$eval("#doc_status", (e) => e.textContent)), "a refused upload shows the server's message");

  // Remove a document.
  await page.click('#doc_list li[data-name="llamas.md"] button');
  await page.waitForFunction(() => !document.querySelector('#doc_list li[data-name="llamas.md"]'), { timeout: 20000 });
  check(!fs.existsSync(path.join(docs, "llamas.md")), "removed from the docs folder");

  // Chat mode keeps its own conversation and still answers.
  await page.click("#mode_chat");
  check(await page.$eval("#docs_panel", (e) => e.hidden) && await page.evaluate(() => document.querySelectorAll("#log .msg").length === 0),
    "chat mode: panel hidden, its own empty log");
  await page.$eval("#max_tokens", (el) => { el.value = "8"; });
  await page.type("#input", "Hello");
  await page.click("#send");
  await page.waitForFunction(() => {
    const a = document.querySelectorAll("#log .msg.assistant");
    return (a.length && a[0].dataset.state === "done") || document.querySelector("#log .msg.error");
  }, { timeout: 30000 });
  check(await page.evaluate(() => !document.querySelector("#log .msg.error") && !document.querySelector("#log .sources")),
    "chat mode answers (no sources)");
  check(errors.length === 0, "no page errors", errors.join("\n"));
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  if (browser) await browser.close();
  await server.stop();
  fs.rmSync(root, { recursive: true, force: true });
}
finish("documents_page");
