// The chat page at / in headless Chromium (Debian's /usr/bin/chromium driven by the
// pinned puppeteer-core): send a message, watch the reply stream in, see tokens/s.
import fs from "node:fs";
import { startServer, check, finish, requireModule } from "./lib.mjs";

const CHROMIUM = process.env.IGNIS_CHROMIUM || "/usr/bin/chromium";
if (!fs.existsSync(CHROMIUM)) {
  console.log(`chat_page: SKIPPED (no ${CHROMIUM}; scripts/setup.sh installs Debian's chromium)`);
  process.exit(0);
}
const puppeteer = requireModule("puppeteer-core");
const KEY = "page-key";
const server = await startServer({ args: ["--api-key", KEY, "--no-access-log"] });
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
  check((await page.title()) === "ignis chat", "page title");
  await page.type("#api_key", KEY);
  await page.$eval("#max_tokens", (el) => { el.value = "24"; });
  await page.type("#input", "Hello from Chromium");
  await page.click("#send");
  await page.waitForFunction(() => {
    const a = document.querySelectorAll(".msg.assistant");
    return (a.length && a[a.length - 1].dataset.state === "done") || document.querySelector(".msg.error");
  }, { timeout: 30000 });
  const state = await page.evaluate(() => ({
    user: [...document.querySelectorAll(".msg.user")].map((e) => e.textContent),
    reply: [...document.querySelectorAll(".msg.assistant")].map((e) => e.textContent),
    error: document.querySelector(".msg.error") && document.querySelector(".msg.error").textContent,
    tokens: document.getElementById("stats").dataset.tokens,
    tps: document.getElementById("stats").dataset.tps,
    stats: document.getElementById("stats").textContent,
  }));
  check(!state.error, "no error shown", state.error);
  check(state.user[0] === "Hello from Chromium", "user message shown");
  check(state.reply.length === 1 && state.reply[0].length > 0, "streamed reply shown", JSON.stringify(state.reply));
  check(Number(state.tokens) === 24 && Number(state.tps) > 0 && /tokens\/s/.test(state.stats), "tokens/s shown", state.stats);
  // A second turn sends the history (template renders both turns).
  await page.type("#input", "And again");
  await page.click("#send");
  await page.waitForFunction(() => {
    const a = document.querySelectorAll(".msg.assistant");
    return (a.length === 2 && a[1].dataset.state === "done") || document.querySelector(".msg.error");
  }, { timeout: 30000 });
  check(await page.evaluate(() => document.querySelectorAll(".msg.assistant").length === 2 && !document.querySelector(".msg.error")), "second turn streamed");
  // Wrong key: the page shows the server's error message.
  await page.$eval("#api_key", (el) => { el.value = "wrong"; });
  await page.type("#input", "blocked");
  await page.click("#send");
  await page.waitForSelector(".msg.error", { timeout: 10000 });
  check(/API key/.test(await page.$eval(".msg.error", (e) => e.textContent)), "wrong key error shown");
  check(errors.length === 0, "no page errors", errors.join("\n"));
} catch (e) {
  check(false, "unexpected exception", e.stack);
} finally {
  if (browser) await browser.close();
  await server.stop();
}
finish("chat_page");
