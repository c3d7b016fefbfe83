// Provisional tokenizer goldens from transformers.js (a pure-JS port of HF tokenizers),
// same JSON format as tokenizer_goldens.py. The authoritative goldens come from the
// Python script (real HF `tokenizers`); this one lets tests run before those exist.
//
// usage: node tools/golden/tokenizer_goldens_js.mjs --tjs /tmp/tjs --assets assets \
//          --corpus tests/data/tokenizer/corpus.json --out tests/data/tokenizer
// (--tjs: a folder where `npm install --ignore-scripts @huggingface/transformers` was run)
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';
import { pathToFileURL } from 'url';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) => {
  if (v.startsWith('--')) a.push([v.slice(2), arr[i + 1]]);
  return a;
}, []));
for (const k of ['tjs', 'assets', 'corpus', 'out']) if (!args[k]) throw new Error(`missing --${k}`);
const req = createRequire(path.join(path.resolve(args.tjs), 'package.json'));
const tjs = await import(pathToFileURL(req.resolve('@huggingface/transformers')).href);
const pkg = JSON.parse(fs.readFileSync(path.join(path.resolve(args.tjs), 'node_modules/@huggingface/transformers/package.json')));

const corpus = JSON.parse(fs.readFileSync(args.corpus, 'utf8'));
const NAMES = ['llama3', 'llama3_1', 'mistral', 'qwen3'];
fs.mkdirSync(args.out, { recursive: true });
for (const name of NAMES) {
  const dir = path.join(args.assets, `tokenizer-${name}`, 'models');
  const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  // A bare config: no model-specific Python-side tweaks, no clean-up of spaces
  // (HF `tokenizers` decode does none).
  const tok = new tjs.PreTrainedTokenizer(tj, { clean_up_tokenization_spaces: false });
  const dec = (ids, skip) =>
    ids.length ? tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false }) : '';
  const cases = corpus.map((text) => {
    const ids = Array.from(tok.encode(text, { add_special_tokens: true }));
    const ids_nospecial = Array.from(tok.encode(text, { add_special_tokens: false }));
    return {
      ids, ids_nospecial,
      decode: dec(ids, false),
      decode_skip_special: dec(ids, true),
    };
  });
  const out = { generator: `transformers.js ${pkg.version}`, tokenizer: name, corpus_size: corpus.length, cases };
  fs.writeFileSync(path.join(args.out, `goldens_${name}.json`), JSON.stringify(out));
  console.log(`${name}: ${cases.length} cases`);
}
