// The shipped chat demo (models/chat-demo) served as the README shows: the README's chat curl
// (same body, same key) answers 200 with a Python code block, streaming and not, and the
// official openai client gets the same answer.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, request, parseSSE, check, finish, requireModule } from "./lib.mjs";

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../models/chat-demo");
if (!fs.existsSync(path.join(MODEL, "tokenizer.json"))) {
  console.log(`chat_demo: SKIPPED (${MODEL} has no tokenizer.json: run scripts/fetch-assets.sh)`);
  process.exit(0);
}
const KEY = "secret";
const auth = { Authorization: `Bearer ${KEY}` };
const server = await startServer({ model: MODEL, shipped: true, args: ["--api-key", KEY, "--no-access-log"] });
try {
  // The README's curl, byte for byte the same body.
  const body = { model: "chat-demo", messages: [{ role: "user", content: "Write a loop" }], max_tokens: 32 };
  const r = await request(server, "POST", "/v1/chat/completions", body, auth);
  check(r.status === 200, "README chat curl answers 200", r.text);
  // The template ends in "[/INST]" and the answer starts with a space, which the streaming
  // detokenizer keeps (as vLLM's does).
  const text = (r.json.choices?.[0]?.message?.content ?? "").trimStart();
  check(text.startsWith("```python\n"), "the assistant answers with a Python code block", JSON.stringify(text));
  check(r.json.usage?.completion_tokens > 0, "usage reported", JSON.stringify(r.json.usage));

  // A request in words for a function, greedy: a code block defining that function.
  const ask = { model: "chat-demo", temperature: 0, max_tokens: 64,
    messages: [{ role: "user", content: "Write a Python function `read_lines(path)` that does the following: Read a text file and return its lines without trailing newlines." }] };
  const a = await request(server, "POST", "/v1/chat/completions", ask, auth);
  const answer = a.json.choices?.[0]?.message?.content ?? "";
  check(a.status === 200 && answer.trimStart().startsWith("```python\ndef read_lines(path):"), "answer defines the requested function", JSON.stringify(answer));

  // Streaming gives the same text (greedy), and ends with a finish_reason.
  const s = await fetch(server.url + "/v1/chat/completions", { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ ...ask, stream: true }) });
  const events = parseSSE(await s.text());
  const streamed = events.filter((e) => e !== "[DONE]").map((e) => e.choices?.[0]?.delta?.content ?? "").join("");
  check(streamed === answer, "streamed answer equals the non-streamed one", JSON.stringify(streamed));
  check(events.some((e) => e !== "[DONE]" && e.choices?.[0]?.finish_reason), "stream carries a finish_reason");

  // The official openai client.
  const OpenAI = requireModule("openai").default ?? requireModule("openai");
  const client = new OpenAI({ baseURL: server.url + "/v1", apiKey: KEY });
  const c = await client.chat.completions.create(ask);
  check(c.choices[0].message.content === answer, "openai client gets the same answer");
} catch (e) {
  check(false, "chat demo test threw", String(e && e.stack || e));
} finally {
  await server.stop();
}
finish("chat_demo");
