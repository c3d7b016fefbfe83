// Tool calling through the official `openai` client (issue 22 item 2), for each template family
// ignis knows, with the family's real chat template where the assets have one (Qwen2.5 for Hermes
// <tool_call>, Llama 3.1 for its JSON calls; Mistral's [TOOL_CALLS] in a small template of that
// style): tool_choice "required" and a named function (enforced by a grammar) give parsed
// tool_calls whose arguments validate against the tool's parameters, finish_reason "tool_calls",
// ids "call_..."; parallel_tool_calls false gives one call; streamed argument deltas concatenate to
// valid JSON; content before a call streams as content; assistant tool_calls and tool messages go
// back through the template.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, makeModel, check, finish, requireModule } from "./lib.mjs";

const OpenAI = requireModule("openai").default ?? requireModule("openai");
const here = path.dirname(fileURLToPath(import.meta.url));
const goldens = JSON.parse(fs.readFileSync(path.join(here, "..", "data", "chat_templates", "goldens.json"), "utf8"));

const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% if tools %}[AVAILABLE_TOOLS] {{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}" +
  "{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]" +
  "{% elif m['role'] == 'assistant' %}{% if m['tool_calls'] %}[TOOL_CALLS] [{% for c in m['tool_calls'] %}" +
  "{{ c['function'] | tojson }}{% if not loop.last %}, {% endif %}{% endfor %}]{% else %}{{ m['content'] }}{% endif %}{{ eos_token }}" +
  "{% elif m['role'] == 'tool' %}[TOOL_RESULTS] {{ m['content'] }}[/TOOL_RESULTS]{% endif %}{% endfor %}";

const families = [
  { name: "hermes (Qwen2.5)", template: goldens.templates["ollama:library/qwen2.5:0.5b"],
    forced: 'root ::= "Checking. <tool_call>\\n{\\"name\\": \\"get_time\\", \\"arguments\\": {\\"tz\\": \\"UTC\\"}}\\n</tool_call>"', content: "Checking. " },
  { name: "llama3_json (Llama 3.1)", template: goldens.templates["ollama:library/llama3.1:8b"],
    forced: 'root ::= "{\\"name\\": \\"get_time\\", \\"parameters\\": {\\"tz\\": \\"UTC\\"}}"', content: "" },
  { name: "mistral", template: MISTRAL_TEMPLATE,
    forced: 'root ::= "[TOOL_CALLS][{\\"name\\": \\"get_time\\", \\"arguments\\": {\\"tz\\": \\"UTC\\"}}]"', content: "" },
];

const tools = [
  { type: "function", function: { name: "get_weather", description: "Weather of a city",
    parameters: { type: "object", properties: { city: { type: "string", enum: ["Paris", "Oslo"] }, days: { type: "integer" },
      metric: { type: "boolean" } }, required: ["city", "days", "metric"] } } },
  { type: "function", function: { name: "get_time", parameters: { type: "object", properties: { tz: { type: "string", enum: ["UTC", "CET"] } }, required: ["tz"] } } },
];
const schemaOf = Object.fromEntries(tools.map((t) => [t.function.name, t.function.parameters]));
function argsValid(name, text) {
  let a;
  try { a = JSON.parse(text); } catch { return false; }
  const s = schemaOf[name];
  if (!s || typeof a !== "object" || a === null) return false;
  for (const k of s.required) if (!(k in a)) return false;
  for (const [k, v] of Object.entries(a)) {
    const p = s.properties[k];
    if (!p) return false;
    if (p.enum && !p.enum.includes(v)) return false;
    if (p.type === "integer" && !Number.isInteger(v)) return false;
    if (p.type === "boolean" && typeof v !== "boolean") return false;
  }
  return true;
}

// Folds streamed deltas into {content, calls: [{id, name, arguments}], finish}.
async function collect(stream) {
  const out = { content: "", calls: [], finish: null, argDeltas: 0 };
  for await (const ch of stream)
    for (const c of ch.choices) {
      if (c.delta.content) out.content += c.delta.content;
      for (const tc of c.delta.tool_calls || []) {
        if (!out.calls[tc.index]) out.calls[tc.index] = { id: tc.id, name: tc.function?.name, arguments: "" };
        if (tc.function?.arguments) { out.calls[tc.index].arguments += tc.function.arguments; out.argDeltas++; }
      }
      if (c.finish_reason) out.finish = c.finish_reason;
    }
  return out;
}

for (const fam of families) {
  const server = await startServer({ model: makeModel({ chatTemplate: fam.template, maxPos: 2048 }) });
  const tag = `[${fam.name}]`;
  try {
    const client = new OpenAI({ apiKey: "x", baseURL: server.url + "/v1", maxRetries: 0 });
    const messages = [{ role: "user", content: "What is the weather in Paris?" }];
    const base = { model: "tiny", messages, tools, max_tokens: 120 };

    // required, one call: parsed, following its schema, finish_reason "tool_calls".
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create({ ...base, tool_choice: "required", parallel_tool_calls: false, temperature: 1, seed });
      const c = r.choices[0];
      const calls = c.message.tool_calls || [];
      check(calls.length === 1 && c.finish_reason === "tool_calls", `${tag} required: one tool call and finish_reason`, JSON.stringify(c));
      check(c.message.content === null, `${tag} required: no content`, JSON.stringify(c.message));
      for (const tc of calls) {
        check(/^call_[A-Za-z0-9]{24}$/.test(tc.id) && tc.type === "function", `${tag} call id and type`, JSON.stringify(tc));
        check(argsValid(tc.function.name, tc.function.arguments), `${tag} arguments validate against ${tc.function.name}'s parameters`, tc.function.arguments);
      }
    }
    // required, parallel: one or more calls (a noise model may go on calling until max_tokens: every
    // call but a last one cut by the length validates)
    const par = await client.chat.completions.create({ ...base, tool_choice: "required", temperature: 1, seed: 3, max_tokens: 200 });
    const pc = par.choices[0];
    const pcalls = pc.message.tool_calls || [];
    check(pcalls.length >= 1 && ["tool_calls", "length"].includes(pc.finish_reason), `${tag} parallel required: calls`, JSON.stringify(pc));
    pcalls.forEach((tc, i) => {
      if (i < pcalls.length - 1 || pc.finish_reason === "tool_calls")
        check(argsValid(tc.function.name, tc.function.arguments), `${tag} parallel call ${i} validates`, tc.function.arguments);
    });
    check(new Set(pcalls.map((t) => t.id)).size === pcalls.length, `${tag} call ids are unique`);
    // a named function, one call only
    const named = await client.chat.completions.create({ ...base, temperature: 1, seed: 4, parallel_tool_calls: false,
      tool_choice: { type: "function", function: { name: "get_weather" } } });
    const nc = named.choices[0].message.tool_calls || [];
    check(nc.length === 1 && nc[0].function.name === "get_weather" && argsValid("get_weather", nc[0].function.arguments),
      `${tag} named tool_choice: one call of that function`, JSON.stringify(named.choices[0]));

    // streaming: argument deltas concatenate to valid JSON; the same calls as without streaming (greedy)
    const greedy = { ...base, tool_choice: "required", parallel_tool_calls: false, temperature: 0 };
    const whole = await client.chat.completions.create(greedy);
    const s = await collect(await client.chat.completions.create({ ...greedy, stream: true }));
    const wc = whole.choices[0].message.tool_calls || [];
    check(s.finish === "tool_calls" && s.calls.length === wc.length && s.calls.length >= 1, `${tag} streamed calls and finish_reason`, JSON.stringify(s));
    s.calls.forEach((c, i) => {
      check(/^call_/.test(c.id) && c.name === wc[i]?.function.name, `${tag} streamed call ${i}: id and name`, JSON.stringify(c));
      check(argsValid(c.name, c.arguments) && JSON.stringify(JSON.parse(c.arguments)) === JSON.stringify(JSON.parse(wc[i].function.arguments)),
        `${tag} streamed call ${i}: arguments concatenate to the same valid JSON`, c.arguments);
    });

    // auto: the output is parsed (here forced by a grammar to text + a call in the family's syntax)
    const auto = { ...base, tool_choice: "auto", temperature: 0, guided_grammar: fam.forced };
    const a = await client.chat.completions.create(auto);
    const ac = a.choices[0];
    check((ac.message.tool_calls || []).length === 1 && ac.message.tool_calls[0].function.name === "get_time" &&
      JSON.parse(ac.message.tool_calls[0].function.arguments).tz === "UTC" && ac.finish_reason === "tool_calls",
      `${tag} auto: the call is parsed`, JSON.stringify(ac));
    check((ac.message.content ?? "") === fam.content, `${tag} auto: text before the call is content`, JSON.stringify(ac.message));
    const as = await collect(await client.chat.completions.create({ ...auto, stream: true }));
    check(as.content === fam.content && as.calls.length === 1 && as.calls[0].arguments === ac.message.tool_calls[0].function.arguments,
      `${tag} auto streamed: content deltas, then the call`, JSON.stringify(as));

    // round trip: the assistant's call and the tool's answer go back through the template
    const call = wc[0] || { id: "call_1", type: "function", function: { name: "get_time", arguments: "{\"tz\": \"UTC\"}" } };
    const trip = [...messages, { role: "assistant", content: null, tool_calls: [call] },
      { role: "tool", tool_call_id: call.id, content: "{\"result\": \"sunny, 21 C\"}" }];
    const before = await client.chat.completions.create({ ...base, max_tokens: 4, temperature: 0 });
    const after = await client.chat.completions.create({ ...base, messages: trip, max_tokens: 4, temperature: 0, tool_choice: "none" });
    check(after.choices[0].message.tool_calls === undefined && typeof after.choices[0].message.content === "string",
      `${tag} tool_choice none: plain content`, JSON.stringify(after.choices[0]));
    check(after.usage.prompt_tokens > before.usage.prompt_tokens + 8, `${tag} tool call and result reach the prompt`,
      `${after.usage.prompt_tokens} vs ${before.usage.prompt_tokens}`);
  } finally {
    await server.stop();
  }
}
finish("tools");
