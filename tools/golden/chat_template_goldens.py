#!/usr/bin/env python3
"""Renders chat-template goldens with real Jinja2, configured like transformers.

Usage (from the repository root; needs only jinja2 3.1.x, e.g. Debian's python3-jinja2):
    /usr/bin/python3 tools/golden/chat_template_goldens.py [ASSETS_DIR] [OUT_DIR]
defaults: assets  tests/data/chat_templates
Writes OUT_DIR/goldens.json:
  {"now": ISO date used by strftime_now,
   "templates": {name: source},
   "cases": [{"template": name, "context": idx, "expected": str} | {..., "error": msg}],
   "contexts": [context, ...],
   "features": [{"name", "template", "context", "expected" | "error"}]}
An "error" entry means Jinja2 raised; "raised" is true when the template called
raise_exception (then "error" is its exact message).

The environment matches transformers' _compile_jinja_template (utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[AssistantTracker ({% generation %}), jinja2.ext.loopcontrols]) with its own
tojson filter (json.dumps, ensure_ascii=False), raise_exception and strftime_now globals;
strftime_now is pinned to NOW so the output is deterministic.

Templates: every `gguf` chat template in @huggingface/ollama-utils
src/chat-template-automap.ts (named by their ollama model, e.g. library/llama3.1:8b; the
families the issue names are llama2:7b, llama3:8b, llama3.1:8b, llama3.2:3b,
mistral:7b-instruct-fp16, qwen2:0.5b, qwen2.5:0.5b, qwen3:0.6b), plus the chat_template of
the tokenizer_config.json of tokenizer-llama3, tokenizer-llama3_1 and tokenizer-qwen3.
"""
import datetime
import json
import os
import re
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = datetime.datetime(2024, 7, 26, 10, 30, 0)


class AssistantTracker(jinja2.ext.Extension):
    # transformers' {% generation %} block: renders its body unchanged.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


class RaisedByTemplate(Exception):
    pass


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, context):
    try:
        out = env.from_string(source).render(**context)
        return {"expected": out}
    except jinja2.exceptions.TemplateError as e:
        if type(e) is jinja2.exceptions.TemplateError:  # raise_exception
            return {"error": str(e), "raised": True}
        return {"error": f"{type(e).__name__}: {e}", "raised": False}
    except Exception as e:  # noqa: BLE001 - Python-level failure inside Jinja2 (TypeError ...)
        return {"error": f"{type(e).__name__}: {e}", "raised": False}


def js_unquote(lit):
    """Decodes one JavaScript string literal ("...", '...' or `...` without ${})."""
    body = lit[1:-1]
    out = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in simple:
            out.append(simple[n])
            i += 2
        elif n == "u":
            if body[i + 2] == "{":
                j = body.index("}", i)
                out.append(chr(int(body[i + 3:j], 16)))
                i = j + 1
            else:
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
        elif n == "x":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif n == "\n":
            i += 2
        else:
            out.append(n)
            i += 2
    s = "".join(out)
    # JS strings are UTF-16: join surrogate pairs written as two \u escapes.
    return s.encode("utf-16", "surrogatepass").decode("utf-16")


def ollama_templates(assets):
    path = os.path.join(assets, "ollama-utils", "src", "chat-template-automap.ts")
    src = open(path, encoding="utf-8").read()
    pat = re.compile(r'model: "([^"]+)",\s*gguf:\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`(?:[^`\\]|\\.)*`)', re.S)
    out = {}
    for m in pat.finditer(src):
        name = "ollama:" + m.group(1)
        base, k = name, 2
        while name in out:  # qwq:32b appears three times with different templates
            name = f"{base}#{k}"
            k += 1
        out[name] = js_unquote(m.group(2))
    return out


def tokenizer_templates(assets):
    out = {}
    for tok in ["tokenizer-llama3", "tokenizer-llama3_1", "tokenizer-qwen3"]:
        cfg = json.load(open(os.path.join(assets, tok, "models", "tokenizer_config.json"), encoding="utf-8"))
        ct = cfg.get("chat_template")
        if isinstance(ct, list):  # named-template list form
            for entry in ct:
                out[f"hf:{tok}:{entry['name']}"] = entry["template"]
        elif ct:
            out[f"hf:{tok}"] = ct
    return out


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
}


TOOL_CALL_STR_1 = {"id": "call_a", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}
TOOL_CALL_STR_2 = {"id": "call_b", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}

TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current local time.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": []},
    },
}


def contexts():
    base = {"bos_token": "<s>", "eos_token": "</s>"}
    sys_msg = {"role": "system", "content": "You are a helpful assistant."}
    u1 = {"role": "user", "content": "Hello! What is 2 + 2?"}
    a1 = {"role": "assistant", "content": "2 + 2 = 4."}
    u2 = {"role": "user", "content": "  And times 3?\nShow it.  "}
    ctxs = [
        {"messages": [u1], "add_generation_prompt": True},
        {"messages": [u1], "add_generation_prompt": False},
        {"messages": [sys_msg, u1, a1, u2], "add_generation_prompt": True},
        {"messages": [sys_msg, u1, a1, u2], "add_generation_prompt": False},
        {"messages": [u1, a1], "add_generation_prompt": False},
        {"messages": [{"role": "user", "content": "Übersetze: 你好, 世界 🌍 — «ok»"},
                      {"role": "assistant", "content": "<think>\nThe user wants a translation.\n</think>\n\nHello, world 🌍"},
                      {"role": "user", "content": "Thanks\t!"}], "add_generation_prompt": True},
        {"messages": [sys_msg, {"role": "user", "content": "What's the weather in Paris?"}],
         "tools": [WEATHER_TOOL], "add_generation_prompt": True},
        {"messages": [{"role": "user", "content": "What's the weather in Paris?"},
                      {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
                      {"role": "tool", "name": "get_weather", "tool_call_id": "call_1",
                       "content": "{\"temperature\": 21, \"sky\": \"clear\"}"}],
         "tools": [WEATHER_TOOL], "add_generation_prompt": True},
        {"messages": [sys_msg, u1], "add_generation_prompt": True, "enable_thinking": False},
        # multimodal content lists
        {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this picture."}]},
                      {"role": "assistant", "content": [{"type": "text", "text": "A cat on a mat."}]},
                      {"role": "user", "content": [{"type": "text", "text": "Colour?"}]}],
         "add_generation_prompt": True},
        # OpenAI-style tool round trip: content None, two calls with JSON-string arguments
        {"messages": [sys_msg, {"role": "user", "content": "Weather in Paris and Rome?"},
                      {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL_STR_1, TOOL_CALL_STR_2]},
                      {"role": "tool", "tool_call_id": "call_a", "name": "get_weather", "content": "21C"},
                      {"role": "tool", "tool_call_id": "call_b", "name": "get_weather", "content": "25C"},
                      {"role": "assistant", "content": "Paris 21C, Rome 25C."},
                      {"role": "user", "content": "Thanks"}],
         "tools": [WEATHER_TOOL, TIME_TOOL], "add_generation_prompt": True},
        # RAG documents
        {"messages": [{"role": "user", "content": "What does the doc say?"}],
         "documents": [{"title": "Doc one", "text": "The sky is blue."}, {"title": "Doc two", "text": "Grass is green."}],
         "add_generation_prompt": True},
        # reasoning content kept separately, thinking on
        {"messages": [{"role": "user", "content": "2+2?"},
                      {"role": "assistant", "content": "4", "reasoning_content": "Simple sum."},
                      {"role": "user", "content": "3+3?"}],
         "add_generation_prompt": True, "enable_thinking": True},
        {"messages": [sys_msg], "add_generation_prompt": True},
        {"messages": [], "add_generation_prompt": True},
    ]
    return [dict(base, **c) for c in ctxs]


# Small feature templates: one construct each; expected output comes from Jinja2.
FEATURES = [
    ("text", "plain text\nline two", {}),
    ("trailing_newline_dropped", "a\n", {}),
    ("two_trailing_newlines", "a\n\n", {}),
    ("var", "Hello {{ name }}!", {"name": "Ann"}),
    ("comment", "a{# hidden #}b", {}),
    ("comment_trim", "a\n  {# c #}\nb", {}),
    ("ws_minus", "a  {{- 'x' -}}  b", {}),
    ("ws_block_minus", "a \n {%- if true -%} \n b \n {%- endif -%} \n c", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("lstrip_blocks", "<\n    {% if true %}\n    body\n    {% endif %}\n>", {}),
    ("lstrip_not_var", "  {{ 'v' }}\n  {% if true %}x{% endif %}", {}),
    ("plus_disables_lstrip", "  {%+ if true %}x{% endif +%}\ny", {}),
    ("crlf_trim", "{% if true %}\r\nA{% endif %}", {}),
    ("raw", "{% raw %}{{ not parsed }}{% endraw %}", {}),
    ("set", "{% set x = 3 %}{{ x * 2 }}", {}),
    ("set_block", "{% set b %}in {{ 1 + 1 }}{% endset %}[{{ b }}]", {}),
    ("set_tuple", "{% set a, b = [1, 2] %}{{ b }}{{ a }}", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", {}),
    ("set_scope_in_loop", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("if_elif_else", "{% for v in [1, 2, 3] %}{% if v == 1 %}one{% elif v == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.index }} {% endfor %}", {}),
    ("for_dict_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_dict", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"z": 1, "y": 2}}),
    ("loop_cycle_prev_next", "{% for x in [1,2,3] %}{{ loop.cycle('a','b') }}{{ loop.previtem }}{{ loop.nextitem }}|{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("nested_loop", "{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}{% endfor %}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bo') }} {{ greet('Al', punct='?') }}", {}),
    ("macro_call", "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner{% endcall %}", {}),
    ("macro_outer_scope", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ messages|length }}{% endmacro %}{{ m() }}", {"messages": [1, 2]}),
    ("arith", "{{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 1.5 + 1 }} {{ 10 / 5 }}", {}),
    ("float_repr", "{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 3.14 }} {{ 1e-7 }} {{ 2.5e16 }} {{ 123456789.0 * 10 }}", {}),
    ("compare", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ [1,2] == [1,2] }} {{ 3 > 2 > 1 }}", {}),
    ("logic", "{{ true and false }} {{ true or false }} {{ not true }} {{ 0 or 'x' }} {{ '' and 'y' }} {{ none or [] }}", {}),
    ("in", "{{ 'b' in 'abc' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}", {}),
    ("concat", "{{ 'a' ~ 1 ~ none ~ true ~ missing }} {{ 'x' + 'y' }} {{ [1] + [2] }}", {}),
    ("ternary", "{{ 'yes' if flag else 'no' }} {{ 'yes' if not flag }}|", {"flag": False}),
    ("literals", "{{ [1, 'a', none, true, 2.5] }} {{ {'a': 1, 'b': [none]} }} {{ (1, 2) }} {{ 'it\\'s' }} {{ \"q\\\"\\n\" }}", {}),
    ("repr_strings", "{{ ['a\"b', \"c'd\", 'e\\\\f', '\\t'] }}", {}),
    ("str_methods", "{{ '  hi  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}", {}),
    ("str_methods2", "{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'hello world'.title() }} {{ 'ABC'.lower() }} {{ 'abc'.upper() }} {{ 'aXbX'.replace('X', '-') }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }} {{ 'hello'.capitalize() }}", {}),
    ("str_format", "{{ '{} and {}'.format('a', 1) }} {{ '{0}{name}'.format('x', name='y') }}", {}),
    ("str_percent", "{{ '%s-%d' % ('a', 3) }}", {}),
    ("str_join_method", "{{ ', '.join(['a', 'b']) }}", {}),
    ("slicing", "{{ 'abcdef'[1:3] }} {{ 'abcdef'[::-1] }} {{ [1,2,3,4][1:] }} {{ [1,2,3,4][:-1] }} {{ 'abcdef'[::2] }} {{ [1,2,3][-1] }} {{ 'héllo'[1] }}", {}),
    ("subscript", "{{ d['a'] }} {{ d.a }} {{ l[0] }} {{ d['missing'] }}|{{ d.get('a') }} {{ d.get('x', 'dflt') }} {{ d.get('x') }}", {"d": {"a": 5}, "l": [9]}),
    ("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}", {"d": {"a": 1, "b": 2}}),
    ("filters_str", "{{ '  x  ' | trim }}|{{ 'Ab' | lower }}|{{ 'ab' | upper }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}|{{ 'a-b' | replace('-', '+') }}|{{ 42 | string }}|{{ 'abc' | length }}", {}),
    ("filters_num", "{{ '42' | int }} {{ '3.5' | float }} {{ 'x' | int }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 7.1 | round(0, 'floor') }} {{ 3.7 | int }} {{ 5 | float }}", {}),
    ("filters_list", "{{ [3,1,2] | first }} {{ [3,1,2] | last }} {{ [3,1,2] | sort | list }} {{ [1,2,2,3,1] | unique | list }} {{ ['a','b'] | join('-') }} {{ [1,2] | join }} {{ 'ab' | list }} {{ [1,2,3] | reverse | list }} {{ [1,2,3] | sum }} {{ [3,1] | max }} {{ [3,1] | min }}", {}),
    ("filter_default", "{{ missing | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ 0 | d('z') }} {{ x | default('no') }}", {"x": "yes"}),
    ("filter_map_select", "{{ users | map(attribute='name') | join(',') }} {{ users | selectattr('admin') | map(attribute='name') | list }} {{ users | rejectattr('admin') | list | length }} {{ [1,2,3,4] | select('even') | list }} {{ [1,2,3,4] | reject('odd') | list }} {{ ['A','B'] | map('lower') | list }}", {"users": [{"name": "a", "admin": True}, {"name": "b", "admin": False}]}),
    ("filter_selectattr_test", "{{ msgs | selectattr('role', 'equalto', 'user') | list | length }} {{ msgs | selectattr('role', '==', 'system') | map(attribute='content') | first }}", {"msgs": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}),
    ("filter_dictsort_items", "{{ d | dictsort }} {{ d | items | list }} {{ d | dictsort(reverse=true) }}", {"d": {"b": 1, "a": 2}}),
    ("filter_tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"<' | tojson }}|{{ [1, 2.5, none, true] | tojson }}|{{ d | tojson(separators=(',', ':')) }}", {"d": {"b": [1, {"c": None}], "a": "x"}}),
    ("filter_tojson_sort", "{{ d | tojson(sort_keys=true) }} {{ {} | tojson(indent=2) }} {{ [] | tojson(indent=2) }}", {"d": {"b": 1, "a": 2}}),
    ("filter_indent", "{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(4, true) }}|{{ 'a\nb' | indent(first=true, width='> ') }}", {}),
    ("filter_escape", "{{ '<a href=\"x\">&\\'</a>' | e }} {{ '<b>' | safe }} {{ '<i>' | escape | length }}", {}),
    ("filter_misc", "{{ 'a b  c' | wordcount }} {{ 'abc' | center(7) }}| {{ [1,2,3,4,5] | batch(2) | list }} {{ 'x' * 3 }} {{ 'Hello' | truncate(3, true, '') }}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    ("tests", "{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 's' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ [] is sequence }} {{ 1 is number }} {{ true is boolean }} {{ true is true }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'a' is in 'abc' }} {{ 2 is eq 2 }} {{ 1 is equalto 2 }} {{ 's' is not string }} {{ 1.5 is float }} {{ 1 is integer }} {{ 'a' is lower }} {{ 'A' is upper }} {{ none is sameas none }} {{ 3 is gt 2 }} {{ 'x' is callable }} {{ range is callable }}", {"x": 1}),
    ("undefined_behaviour", "[{{ nope }}][{{ nope | length }}][{{ nope is none }}][{{ nope == none }}][{% for x in nope %}x{% endfor %}][{{ nope ~ 'a' }}][{{ d.missing }}][{{ d.missing is defined }}][{% if nope %}t{% else %}f{% endif %}][{{ nope | lower }}]", {"d": {}}),
    ("undefined_attr_error", "{{ nope.attr }}", {}),
    ("undefined_add_error", "{{ nope + 1 }}", {}),
    ("none_attr", "[{{ n.attr }}]", {"n": None}),
    ("str_rendering", "{{ none }} {{ true }} {{ false }} {{ 1.0 }} {{ -0.0 }} {{ 10 ** 15 }} {{ [none, 'x', 1.5, {'k': true}] }}", {}),
    ("raise_exception", "{% if true %}{{ raise_exception('Bad role: ' ~ r) }}{% endif %}", {"r": "robot"}),
    ("strftime_now", "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%B %A %j %y %I %p') }}", {}),
    ("range_dict", "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ dict(a=1, b='x') }} {{ range(5)[1:3] | list }}", {}),
    ("length_of_things", "{{ [1,2] | length }} {{ {'a': 1} | length }} {{ 'héllo' | length }} {{ messages | count }}", {"messages": [1, 2, 3]}),
    ("messages_idiom", "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% set rest = messages[1:] %}{% else %}{% set sys = '' %}{% set rest = messages %}{% endif %}[{{ sys }}]{% for m in rest %}<{{ m.role }}:{{ m['content'] | trim }}>{% endfor %}", {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": " u "}]}),
    ("generation_block", "a{% generation %}gen {{ 1 }}{% endgeneration %}b", {}),
    ("string_escapes", "{{ 'a\\tb\\\\n\\u00e9\\x41' }}", {}),
    ("int_float_mix", "{{ 3 * 1.0 }} {{ 7 // 2.0 }} {{ 2 ** -1 }} {{ 1 / 3 }} {{ 100000000000000000.0 }} {{ 1e16 }} {{ 0.0001 }} {{ 1234567890123456789 }}", {}),
    ("namespace_list_append_error", "{% set ns = namespace(items=[]) %}{% set _ = ns.items.append(1) %}{{ ns.items }}", {}),
    ("is_not_and_not_in", "{% if x is not none and 'a' not in x %}ok{% endif %}", {"x": "bcd"}),
    ("whitespace_mixed", "<s>\n{%- for m in ms %}\n  {{- m }}\n{%- endfor %}\n</s>", {"ms": ["a", "b"]}),
    ("if_expr_in_filter_args", "{{ (x if x else 'n') | upper }} {{ [1,2] | map('string') | join(x if x else ',') }}", {"x": ""}),
    # ---- edge cases (second batch)
    ("raw_ws", "a\n  {%- raw -%}\n  {{ x }}\n  {%- endraw -%}\n  b", {}),
    ("raw_lstrip", "<\n  {% raw %}R{% endraw %}\n>", {}),
    ("comment_minus", "a  {#- c -#}  b\n{# two\nlines #}\nc", {}),
    ("var_then_block_same_line", "{{ 'a' }}  {% if true %}x{% endif %}", {}),
    ("block_then_block_same_line", "{% if true %}  {% if true %}y{% endif %}{% endif %}", {}),
    ("tab_lstrip", "x\n\t \t{% if true %}t{% endif %}\n", {}),
    ("trim_only_one_newline", "{% if true %}\n\nA{% endif %}", {}),
    ("minus_var_end_eats_newlines", "{{ 'a' -}}\n\n   b", {}),
    ("macro_defaults_use_params", "{% macro f(a, b=a ~ '!') %}{{ a }}{{ b }}{% endmacro %}{{ f('x') }} {{ f('x', 'y') }} {{ f(b='k', a='j') }}", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro_set_local", "{% set v = 'outer' %}{% macro m() %}{% set v = 'inner' %}{{ v }}{% endmacro %}{{ m() }} {{ v }}", {}),
    ("call_with_args", "{% macro lst(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) lst([1, 2]) %}<{{ x }}>{% endcall %}", {}),
    ("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}|{{ b }}]{% endmacro %}{{ m(1) }}", {}),
    ("loop_prev_next_undefined", "{% for x in [1, 2] %}{{ loop.previtem is defined }}{{ loop.nextitem is defined }} {% endfor %}", {}),
    ("loop_in_filtered_else", "{% for x in [1, 3] if x is even %}{{ x }}{% else %}none even{% endfor %}", {}),
    ("loop_unpack_items_filter", "{% for k, v in d | dictsort if v > 1 %}{{ k }}{{ v }}{% endfor %}", {"d": {"c": 3, "a": 1, "b": 2}}),
    ("loop_string_and_dict_len", "{% for c in 'hé' %}{{ c }}{{ loop.length }}{% endfor %}", {}),
    ("tojson_unicode_control", "{{ s | tojson }}", {"s": "tab\there \u0001 é 🌍 \u2028 \\ / \"q\""}),
    ("tojson_floats", "{{ [1.0, 0.5, 1e100, -2.25, 100.0, 1e-5] | tojson }}", {}),
    ("tojson_nested_indent4", "{{ x | tojson(indent=4) }}", {"x": {"a": [], "b": {}, "c": [{"d": [1, [2]]}], "e": "s"}}),
    ("string_filter_on_containers", "{{ [1, 'a'] | string }} {{ {'k': none} | string }} {{ none | string }}", {}),
    ("concat_floats_bools", "{{ 1.5 ~ '|' ~ false ~ '|' ~ 0.1 }}", {}),
    ("round_cases", "{{ 0.5 | round }} {{ 1.5 | round }} {{ 2.675 | round(2) }} {{ -1.5 | round }} {{ 3 | round }} {{ 1.25 | round(1, 'ceil') }}", {}),
    ("int_filter_cases", "{{ ' 12 ' | int }} {{ '1e3' | int }} {{ '-4.7' | int }} {{ true | int }} {{ none | int }} {{ 'z' | int(7) }} {{ '0x1A' | int }}", {}),
    ("title_cases", "{{ \"they're bill's friends\" | title }} {{ 'hello-world 2nd' | title }} {{ 'ABC def' | capitalize }}", {}),
    ("split_cases", "{{ '  a  b  c '.split(none, 1) }} {{ 'a--b--c'.split('--', 1) }} {{ ''.split() }} {{ ''.split(',') }}", {}),
    ("replace_count", "{{ 'aaaa'.replace('a', 'b', 2) }} {{ 'abc'.replace('', '-') }} {{ 'aaaa' | replace('a', 'c', 3) }}", {}),
    ("strip_chars", "{{ '<<x>>'.strip('<>') }} {{ '\\n\\t x \\n'.strip() }} {{ 'xyhixy'.rstrip('yx') }} {{ 'abc'.lstrip('ba') }}", {}),
    ("first_last_on_string_and_dict", "{{ 'abc' | first }} {{ 'abc' | last }} {{ {'a': 1, 'b': 2} | first }}", {}),
    ("unique_case_insensitive", "{{ ['A', 'a', 'b', 'B', 'c'] | unique | list }} {{ ['A', 'a'] | unique(case_sensitive=true) | list }}", {}),
    ("sort_attribute", "{{ people | sort(attribute='age') | map(attribute='name') | join(',') }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }}", {"people": [{"name": "x", "age": 30}, {"name": "y", "age": 20}]}),
    ("dictsort_by_value", "{{ d | dictsort(by='value') }} {{ d | dictsort(false, 'key', true) }}", {"d": {"a": 3, "B": 1, "c": 2}}),
    ("map_attribute_default", "{{ xs | map(attribute='n', default='?') | join(',') }} {{ xs | map(attribute='n') | list | length }}", {"xs": [{"n": 1}, {}]}),
    ("selectattr_defined", "{{ ms | selectattr('tool_calls', 'defined') | list | length }} {{ ms | rejectattr('tool_calls') | map(attribute='role') | join }} {{ ms | selectattr('role', 'in', ['user', 'tool']) | list | length }}", {"ms": [{"role": "user"}, {"role": "assistant", "tool_calls": [1]}, {"role": "tool"}]}),
    ("format_filter", "{{ '%s has %d items' | format('cart', 3) }} {{ '%s%%' | format(50) }}", {}),
    ("join_attribute", "{{ users | join(', ', attribute='name') }}", {"users": [{"name": "a"}, {"name": "b"}]}),
    ("in_operator_cases", "{{ 'a' in ['a'] }} {{ 1 in [1.0] }} {{ 'x' in {'x': 1} }} {{ [1] in [[1]] }} {{ 'ab' in 'cab' }} {{ '' in 'x' }}", {}),
    ("comparison_chains_and_types", "{{ 1 == true }} {{ 0 == false }} {{ none == none }} {{ 'a' == 'a' }} {{ [1] != [2] }} {{ {'a': 1} == {'a': 1} }} {{ 1 < 2.5 }} {{ [1, 2] < [1, 3] }}", {}),
    ("compare_str_int_error", "{{ 'a' < 1 }}", {}),
    ("add_str_int_error", "{{ 'a' + 1 }}", {}),
    ("undefined_iter_and_len", "{{ x | list }} {{ x | length }} {{ x | join(',') }}|{{ x | default([]) | length }} {{ x | trim }}|", {}),
    ("undefined_tojson_error", "{{ x | tojson }}", {}),
    ("none_rendering_in_concat", "{{ 'a' ~ none }} {{ none | default('dflt') }} {{ none | default('dflt', true) }}", {}),
    ("dict_literal_and_get", "{% set d = {'a': {'b': 1}} %}{{ d.a.b }} {{ d['a']['b'] }} {{ d.get('a').get('b') }} {{ d.a.c is defined }}", {}),
    ("attr_vs_item_precedence", "{{ d.items | list if false else 'm' }} {{ d['items'] }} {{ d.keys() | list }}", {"d": {"items": "key-value"}}),
    ("list_index_count", "{{ [1, 2, 3].index(2) }} {{ [1, 1, 2].count(1) }}", {}),
    ("string_multiplication", "{{ '=' * 5 }} {{ 3 * 'ab' }} {{ [0] * 3 }}", {}),
    ("negative_numbers", "{{ -3 }} {{ - 3 + 1 }} {{ -(1 + 2) }} {{ 2 - -1 }} {{ -2 ** 2 }} {{ (-2) ** 2 }}", {}),
    ("precedence_mix", "{{ 1 + 2 ~ 3 * 2 }} {{ not 1 == 2 }} {{ 'x' if 1 > 2 else 'y' ~ 'z' }} {{ 2 * 3 | string }}", {}),
    ("is_tests_with_args_no_parens", "{{ 10 is divisibleby 5 }} {{ 'a' is eq 'a' }} {{ 3 is ge 3 }} {{ 3 is lt 2 }} {{ 'b' is in ['a', 'b'] }} {{ 1 is ne 1 }}", {}),
    ("test_not_precedence", "{{ not x is defined }} {{ x is not defined and true }} {{ (x is defined) or 'fallback' }}", {}),
    ("mapping_iterable_tests", "{{ 'a' is iterable }} {{ 'a' is sequence }} {{ 'a' is mapping }} {{ none is iterable }} {{ 1 is iterable }} {{ x is string }} {{ x is none }}", {"x": None}),
    ("namespace_init_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{% set ns.a = ns.a + 10 %}{{ ns.a }}", {}),
    ("set_with_filter_block", "{% set t | upper %}abc{% endset %}{{ t }}", {}),
    ("nested_for_with_loop_outer", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in [1] %}{{ outer.index }}{{ loop.index }}{% endfor %}{% endfor %}", {}),
    ("tuple_literals", "{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %} {{ (1,) }} {{ () }}", {}),
    ("string_concat_adjacent", "{{ 'a' 'b' \"c\" }}", {}),
    ("items_filter_on_dict_loop", "{% for k, v in d | items %}{{ k }}:{{ v | tojson }};{% endfor %}", {"d": {"x": [1], "y": {"z": None}}}),
    ("indent_first_blank", "{{ 'a\n\nb' | indent(2, true, true) }}|{{ '\nx' | indent(2) }}|{{ 'x\n' | indent(2) }}", {}),
    ("lower_upper_unicode", "{{ 'ÉCOLE straße' | lower }} {{ 'straße' | upper }}", {}),
    ("wordcount_center", "{{ 'one, two; three' | wordcount }} [{{ 'ab' | center(6) }}] [{{ 'abc' | center(6) }}]", {}),
    ("truncate_words", "{{ 'the quick brown fox jumps' | truncate(12) }}|{{ 'the quick brown fox jumps' | truncate(12, true) }}|{{ 'short' | truncate(3) }}", {}),
    ("endswith_startswith_tuple", "{{ 'file.py'.endswith(('.js', '.py')) }} {{ 'abc'.startswith('') }}", {}),
    ("bool_arith", "{{ true + 1 }} {{ true * 3 }} {{ false ~ '' }}", {}),
    ("reject_undefined_in_select_error", "{{ [1, 2] | select('nosuchtest') | list }}", {}),
    ("deep_whitespace_template", "{%- for m in messages -%}\n    {%- if m.role == 'user' -%}\n        {{- '[U] ' + m.content + '\\n' -}}\n    {%- else -%}\n        {{- '[A] ' + m.content + '\\n' -}}\n    {%- endif -%}\n{%- endfor -%}\n{%- if add_generation_prompt %}\n    [A] \n{%- endif %}", {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "add_generation_prompt": True}),
    ("tojson_ensure_ascii", "{{ s | tojson(ensure_ascii=true) }} {{ {'k': s} | tojson(true) }}", {"s": "é 🌍 x\u007f"}),
    ("select_map_on_none", "{{ n | selectattr('a') | list }} {{ n | map('upper') | list }} {{ n | reject | list }}", {"n": None}),
    ("unknown_filter_in_dead_branch", "{% if false %}{{ x | nosuchfilter }}{% endif %}ok", {}),
    ("unknown_test_in_dead_branch", "{% if false and x is nosuchtest %}{% endif %}ok", {}),
    ("unknown_filter_error", "{{ 1 | nosuchfilter }}", {}),
    ("syntax_error", "line one\n{% if %}", {}),
    ("unclosed_block_error", "{% for x in y %}no end", {}),
]


def main():
    assets = sys.argv[1] if len(sys.argv) > 1 else "assets"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join("tests", "data", "chat_templates")
    env = make_env()
    templates = {}
    templates.update(tokenizer_templates(assets))
    templates.update(ollama_templates(assets))
    ctxs = contexts()
    cases = []
    for name in templates:
        for i, ctx in enumerate(ctxs):
            cases.append(dict({"template": name, "context": i}, **render(env, templates[name], ctx)))
    features = []
    for name, src, ctx in FEATURES:
        features.append(dict({"name": name, "template": src, "context": ctx}, **render(env, src, ctx)))
    doc = {
        "generator": "tools/golden/chat_template_goldens.py",
        "jinja2_version": jinja2.__version__,
        "now": NOW.isoformat(),
        "templates": templates,
        "contexts": ctxs,
        "cases": cases,
        "features": features,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum(1 for c in cases if "error" in c)
    print(f"{len(templates)} templates, {len(cases)} cases ({n_err} errors), {len(features)} features", file=sys.stderr)


if __name__ == "__main__":
    main()
