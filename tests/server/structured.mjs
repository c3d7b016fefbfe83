// Structured output through the official `openai` client and raw HTTP (issue 22): json_object,
// json_schema (strict) validated against its schema, guided_regex / guided_grammar / guided_choice
// (vLLM's names, sent as extra body fields), streaming, compile errors as 400s naming the field, and
// the Triton / TensorRT-LLM / TGI forms with curl. A tiny dummy-weight model: its text is noise, so
// every property checked is the constraint's, not the model's.
import { execFileSync } from "node:child_process";
import { startServer, request, check, finish, requireModule } from "./lib.mjs";

const OpenAI = requireModule("openai").default ?? requireModule("openai");
const server = await startServer({ args: ["--max-model-len", "512"] });

// A validator for the schema keywords used below (type, properties, required, additionalProperties
// false, enum, minimum / maximum, items, minItems / maxItems, pattern, anyOf).
function validate(v, s, path = "$") {
  const err = (m) => { throw new Error(`${path}: ${m} (${JSON.stringify(v)})`); };
  if (s.anyOf) {
    if (!s.anyOf.some((x) => { try { validate(v, x, path); return true; } catch { return false; } })) err("no anyOf branch");
    return;
  }
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) err("not in enum");
  const t = s.type;
  if (t === "object") {
    if (typeof v !== "object" || v === null || Array.isArray(v)) err("not an object");
    for (const k of s.required || []) if (!(k in v)) err(`missing ${k}`);
    for (const [k, x] of Object.entries(v)) {
      if (s.properties && s.properties[k]) validate(x, s.properties[k], `${path}.${k}`);
      else if (s.additionalProperties === false) err(`extra property ${k}`);
    }
  } else if (t === "array") {
    if (!Array.isArray(v)) err("not an array");
    if (s.minItems !== undefined && v.length < s.minItems) err("too few items");
    if (s.maxItems !== undefined && v.length > s.maxItems) err("too many items");
    v.forEach((x, i) => s.items && validate(x, s.items, `${path}[${i}]`));
  } else if (t === "integer" || t === "number") {
    if (typeof v !== "number" || (t === "integer" && !Number.isInteger(v))) err(`not ${t}`);
    if (s.minimum !== undefined && v < s.minimum) err("below minimum");
    if (s.maximum !== undefined && v > s.maximum) err("above maximum");
  } else if (t === "string") {
    if (typeof v !== "string") err("not a string");
    if (s.pattern && !new RegExp(s.pattern).test(v)) err("pattern");
    if (s.maxLength !== undefined && [...v].length > s.maxLength) err("too long");
  } else if (t === "boolean") {
    if (typeof v !== "boolean") err("not a boolean");
  }
}

const schema = {
  type: "object",
  properties: {
    city: { type: "string", enum: ["Paris", "Oslo", "Lima"] },
    temp: { type: "integer", minimum: -40, maximum: 50 },
    sunny: { type: "boolean" },
    code: { type: "string", pattern: "^[A-Z]{3}$" },
    hours: { type: "array", items: { type: "number", minimum: 0, maximum: 24 }, minItems: 1, maxItems: 3 },
    note: { anyOf: [{ type: "null" }, { type: "string", maxLength: 8 }] },
  },
  required: ["city", "temp", "sunny", "code", "hours", "note"],
  additionalProperties: false,
};

try {
  const client = new OpenAI({ apiKey: "x", baseURL: server.url + "/v1", maxRetries: 0 });
  const messages = [{ role: "user", content: "Weather report as JSON" }];

  // json_schema (strict), several sampled choices: every one that stops parses and validates.
  const js = await client.chat.completions.create({
    model: "tiny", messages, max_tokens: 160, temperature: 1, seed: 3, n: 4,
    response_format: { type: "json_schema", json_schema: { name: "weather", schema, strict: true } },
  });
  let stopped = 0;
  for (const c of js.choices) {
    if (c.finish_reason !== "stop") continue;
    stopped++;
    let ok = true, why = "";
    try { validate(JSON.parse(c.message.content), schema); } catch (e) { ok = false; why = e.message; }
    check(ok, "json_schema output parses and validates", `${why}\n${c.message.content}`);
  }
  check(stopped >= 3, "json_schema choices end on their own (the schema bounds them)", JSON.stringify(js.choices.map((c) => c.finish_reason)));

  // json_object, greedy and sampled: a JSON object whenever it stops; completions accept it too.
  for (const seed of [0, 1, 2]) {
    const r = await client.chat.completions.create({
      model: "tiny", messages, max_tokens: 200, temperature: seed ? 0.9 : 0, seed, response_format: { type: "json_object" },
    });
    const c = r.choices[0];
    if (c.finish_reason === "stop") {
      let v = null;
      try { v = JSON.parse(c.message.content); } catch { /* checked below */ }
      check(v !== null && typeof v === "object" && !Array.isArray(v), "json_object output is a JSON object", c.message.content);
    } else {
      check(c.message.content.trimStart().startsWith("{"), "a json_object cut by max_tokens still starts as an object", c.message.content);
    }
  }
  const cj = await client.completions.create({ model: "tiny", prompt: "JSON:", max_tokens: 60, temperature: 0, response_format: { type: "json_schema", json_schema: { name: "t", schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false } } } });
  check(cj.choices[0].finish_reason === "stop" && typeof JSON.parse(cj.choices[0].text).ok === "boolean", "completions honour response_format", cj.choices[0].text);

  // Streaming json_schema: the deltas concatenate to the non-streamed text (greedy) and validate.
  const greedy = { model: "tiny", messages, max_tokens: 160, temperature: 0, response_format: { type: "json_schema", json_schema: { name: "w", schema } } };
  const whole = await client.chat.completions.create(greedy);
  let text = "";
  for await (const ch of await client.chat.completions.create({ ...greedy, stream: true }))
    for (const c of ch.choices) if (c.delta.content) text += c.delta.content;
  check(text === whole.choices[0].message.content, "streamed json_schema text equals the non-streamed one", `${text}\n${whole.choices[0].message.content}`);

  // vLLM's fields (extra body): regex, grammar, choice, structured_outputs.
  const re = await client.completions.create({ model: "tiny", prompt: "Phone:", max_tokens: 30, temperature: 1, seed: 5, n: 3, guided_regex: "\\+[0-9]{2} [0-9]{3}-[0-9]{4}" });
  for (const c of re.choices) check(/^\+[0-9]{2} [0-9]{3}-[0-9]{4}$/.test(c.text) && c.finish_reason === "stop", "guided_regex output matches", c.text);
  const gr = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 30, temperature: 1, seed: 9, n: 3,
    guided_grammar: 'root ::= answer " " answer\nanswer ::= "yes" | "no" | "maybe"' });
  for (const c of gr.choices) check(/^(yes|no|maybe) (yes|no|maybe)$/.test(c.message.content), "guided_grammar output is in the language", c.message.content);
  const ch = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 10, temperature: 0, guided_choice: ["red", "green", "blue"] });
  check(["red", "green", "blue"].includes(ch.choices[0].message.content), "guided_choice picks one choice", ch.choices[0].message.content);
  const so = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 20, temperature: 0, structured_outputs: { regex: "[a-c]{4}" } });
  check(/^[a-c]{4}$/.test(so.choices[0].message.content), "structured_outputs.regex", so.choices[0].message.content);

  // Errors: 400 naming the field and the library's message.
  const bad = [
    [{ response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", patternProperties: { a: {} } } } } }, "patternProperties"],
    [{ guided_regex: "(unclosed" }, "guided_regex"],
    [{ guided_grammar: "root ::= missing" }, "guided_grammar"],
    [{ response_format: { type: "json_object" }, guided_regex: "a" }, "guided_regex"],
    [{ response_format: { type: "yaml" } }, "response_format"],
  ];
  for (const [extra, word] of bad) {
    let status = 0, msg = "";
    try { await client.chat.completions.create({ model: "tiny", messages, max_tokens: 5, ...extra }); } catch (e) { status = e.status; msg = e.message; }
    check(status === 400 && msg.includes(word), `400 naming '${word}'`, `${status} ${msg}`);
  }

  // Triton (TensorRT-LLM backend) and TGI forms, with curl.
  const curl = (path, body) => JSON.parse(execFileSync("curl", ["-s", "-X", "POST", server.url + path, "-H", "content-type: application/json", "-d", JSON.stringify(body)]).toString());
  const t1 = curl("/v2/models/tiny/generate", { text_input: "Code:", max_tokens: 20, exclude_input_in_output: true, guided_regex: "[A-Z]{3}-[0-9]{2}" });
  check(/^[A-Z]{3}-[0-9]{2}$/.test(t1.text_output), "Triton guided_regex", JSON.stringify(t1));
  const t2 = curl("/v2/models/ensemble/generate", { text_input: "JSON:", parameters: { max_tokens: 80, exclude_input_in_output: true, guided_decoding_guide_type: "json_schema", guided_decoding_guide: JSON.stringify({ type: "object", properties: { n: { type: "integer", minimum: 0, maximum: 9 } }, required: ["n"], additionalProperties: false }) } });
  let n = -1;
  try { n = JSON.parse(t2.text_output).n; } catch { /* checked */ }
  check(Number.isInteger(n) && n >= 0 && n <= 9, "Triton guided_decoding_guide json_schema", JSON.stringify(t2));
  const t3 = curl("/v2/models/tiny/generate", { text_input: "x", max_tokens: 5, guided_regex: "[a-" });
  check(typeof t3.error === "string" && t3.error.includes("guided_regex"), "Triton compile error names the field", JSON.stringify(t3));
  const g1 = curl("/v2/models/tiny/generate", { inputs: "Code:", parameters: { max_new_tokens: 20, grammar: { type: "regex", value: "[0-9]{4}" } } });
  check(/^[0-9]{4}$/.test(g1.generated_text), "TGI grammar regex", JSON.stringify(g1));
  const g2 = curl("/v2/models/tiny/generate", { inputs: "JSON:", parameters: { max_new_tokens: 60, grammar: { type: "json", value: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false } } } });
  check(/^\{\s*"ok"\s*:\s*(true|false)\s*\}$/.test(g2.generated_text), "TGI grammar json", JSON.stringify(g2));
} finally {
  await server.stop();
}
finish("structured");
