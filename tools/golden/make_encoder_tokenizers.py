#!/usr/bin/env python3
"""Encoder tokenizers (WordPiece / Unigram) and their goldens from Hugging Face `tokenizers`.

No BERT or XLM-R tokenizer.json is reachable offline, so this script builds real-structured
ones with the official classes, trained on text the project has, and records what the
real library does with them. Runs on the GPU machine (needs `tokenizers` and
`sentencepiece`; `transformers` is used for a cross-check when present; no network):

    python3 tools/golden/make_encoder_tokenizers.py --root . --out tests/data/encoder [--models]

It writes OUTDIR/
  corpus.json                    the test strings (accents, CJK, emoji, punctuation, long
                                 words, unknown and control characters, whitespace runs)
  pairs.json                     [[a, b], ...] for pair encodings (type ids)
  wordpiece/tokenizer.json       BertNormalizer + BertPreTokenizer + WordPiece (##), BERT
                                 TemplateProcessing, WordPiece decoder (+ tokenizer_config.json)
  unigram_xlmr/tokenizer.json    SentencePiece Unigram trained with nmt_nfkc, converted as
                                 transformers' XLMRobertaConverter does: Precompiled +
                                 Replace(" {2,}"), Metaspace (always), <s> A </s> </s> B </s>
  unigram_bf/tokenizer.json      SentencePiece Unigram with byte_fallback and identity
                                 normalization: NFKC + Replace, WhitespaceSplit + Metaspace
                                 (first), ByteFallback/Fuse/Metaspace decoder
  goldens_<variant>.json         per variant: {"generator", "tokenizer": folder,
                                 "overrides": {component: json} applied on top of the
                                 folder's tokenizer.json, "cases": [{"ids", "ids_nospecial",
                                 "decode_skip_special"}] for corpus.json in order,
                                 "pairs": [{"ids", "type_ids"}] for pairs.json,
                                 "truncated": [{"max_length", "ids"}] for a few long strings}
  unicode_tables.json            what HF's BertNormalizer / BertPreTokenizer / Lowercase /
                                 StripAccents do with every code point (ranges), so the C++
                                 test can tell Unicode-version differences from bugs

With --models (needs torch, transformers, sentence-transformers) it also writes tiny
random encoders as sentence-transformers folders, OUTDIR/models/<name>/ (config.json,
model.safetensors in float32, the tokenizer files, modules.json, sentence_bert_config.json,
1_Pooling/config.json) and golden.json: {"sentences", "ids" (as sentence-transformers
tokenized them), "embeddings" (SentenceTransformer.encode on the CPU in float32, batches of
4, so padding masks are exercised), "max_seq_length"}. Models: bert_mean (BertModel,
WordPiece, mean pooling + Normalize) and xlmr_cls (XLMRobertaModel, Unigram, CLS pooling).

Variants: wordpiece (uncased), wordpiece_cased (lowercase off, BertProcessing),
wordpiece_chinese_off (handle_chinese_chars off, strip_accents on), unigram_xlmr, unigram_bf.
Everything is deterministic for a given input tree (training is single-threaded).
"""
import argparse
import glob
import json
import os
import sys

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VOCAB = 2000
SP = "\u2581"

# Hand-picked cases on top of the short strings of tests/data/tokenizer/corpus.json.
EXTRA = [
    "Hello, World!", "HELLO world", "hello  world", "  leading and trailing  ", "tabs\tand\nnewlines\r\n",
    "Café au lait, naïve résumé, Ångström, São Paulo, Zürich, Kraków, İstanbul, ΣΊΣΥΦΟΣ",
    "cafe\u0301 (decomposed) vs café (composed)", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ﬁnancial ﬂow ﬀ",
    "中文分词测试，包括标点符号。", "日本語とEnglishの混在テキスト", "한국어 문장입니다.", "𠀀𠀁 extension B ideographs",
    "emoji 😀😃🎉 and 👍🏽 and 👨‍👩‍👧 family", "🥰🤩 newer emoji", "flags 🇫🇷🇯🇵",
    "punctuation!!! ??? ... --- ;;; ::: ''' \"\"\" ``` ~~~ ^^^ ||| \\\\ //",
    "quotes “smart” ‘single’ «guillemets» „low“", "dashes – — ‒ ― and … ellipsis", "math ∑∫√∞≠≤ ± × ÷",
    "currency $5 €10 £3 ¥100 ₹20 ₿", "symbols © ® ™ § ¶ † ‡ • ° ‰",
    "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
    "a" * 99, "b" * 100, "c" * 101, "x" * 250,
    "unknown: \u0800\u0801 \U0001F9FF \u2603 \u0f00 \u1200",
    "controls \x00 \x01 \x07 \x1b[0m \x7f \u0085 \u200b zero\u200dwidth \ufeff bom \ufffd",
    "nbsp\u00a0here, ideographic\u3000space, en\u2002space, line\u2028sep",
    "combining: a\u0300 e\u0301 o\u0302 n\u0303 u\u0308 z\u0327 stacked a\u0301\u0302\u0303",
    "Straße, ǅungla, ΐ, ﬃ, İi Iı", "numbers 3.14159 1,000,000 1e-10 0x1F 42nd",
    "def f(x):\n    return x**2  # comment", "std::vector<int> v{1, 2, 3};", "https://example.com/a?b=c&d=e#f",
    "email@example.org", "[CLS] fake special [SEP] [MASK] tokens", "<s> fake xlmr </s> <pad> <unk>",
    "don't won't it's we've they're I'm", "a.b,c!d?e", "ℌ𝔢𝔩𝔩𝔬 𝐛𝐨𝐥𝐝 𝒮𝒸𝓇𝒾𝓅𝓉",
    "हिन्दी में पाठ", "العربية نص", "עברית טקסט", "ไทยภาษา", "Ελληνικά κείμενο", "Русский текст",
    "▁already▁has▁metaspace", " ", "", ".", "##", "##ing", "\u00ad soft\u00adhyphen",
]

PAIRS = [
    ["What is the capital of France?", "Paris is the capital of France."],
    ["hello", "world"],
    ["Café", "naïve résumé"],
    ["中文", "日本語"],
    ["", "only the second"],
    ["only the first", ""],
    ["emoji 😀", "punctuation!?"],
]

TRUNCATE = [(8, 0), (16, 1), (32, 2)]  # (max_length, index into LONG)
LONG = [
    "The quick brown fox jumps over the lazy dog. " * 4,
    "Ein sehr langer deutscher Satz mit Umlauten: äöü ÄÖÜ ß, wiederholt. " * 3,
    "长文本测试。" * 10,
]


def read_text(root):
    """Training text: the project's docs and sources plus every other corpus string."""
    lines = []
    pats = ["README.md", "docs/*.md", "src/**/*.h", "src/**/*.cpp", "tools/**/*.py", "apps/**/*.cpp"]
    for pat in pats:
        for path in sorted(glob.glob(os.path.join(root, pat), recursive=True)):
            with open(path, encoding="utf-8", errors="replace") as f:
                lines.extend(l.rstrip("\n") for l in f if l.strip())
    with open(os.path.join(root, "tests/data/tokenizer/corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    lines.extend(s for s in corpus[::2] if s.strip())
    return lines


def test_corpus(root):
    with open(os.path.join(root, "tests/data/tokenizer/corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    return EXTRA + [s for s in corpus if len(s) <= 200]


def wordpiece(lines):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=specials, min_frequency=2,
                                        limit_alphabet=400, continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return tok


# Minimal protobuf wire reader for sentencepiece's ModelProto (no protobuf dependency):
# field 1 = repeated SentencePiece {1: piece, 2: score (float), 3: type}, field 3 =
# NormalizerSpec {1: name, 2: precompiled_charsmap}.
def _varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def _fields(b):
    import struct
    i, out = 0, []
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        elif wt == 5:
            v = struct.unpack("<f", b[i:i + 4])[0]
            i += 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wt)
        out.append((f, v))
    return out


def read_spm(path):
    with open(path, "rb") as f:
        data = f.read()
    pieces, charsmap = [], b""
    for f, v in _fields(data):
        if f == 1:
            piece, score = "", 0.0
            for g, w in _fields(v):
                if g == 1:
                    piece = w.decode("utf-8")
                elif g == 2:
                    score = float(w)
            pieces.append((piece, score))
        elif f == 3:
            for g, w in _fields(v):
                if g == 2:
                    charsmap = bytes(w)
    return pieces, charsmap


def train_spm(lines, prefix, **kw):
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=prefix, vocab_size=VOCAB,
                                   model_type="unigram", character_coverage=0.9995, bos_id=0, pad_id=1, eos_id=2,
                                   unk_id=3, num_threads=1, minloglevel=2, **kw)
    return read_spm(prefix + ".model")


def unigram_xlmr(lines, work):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    pieces, charsmap = train_spm(lines, os.path.join(work, "xlmr"), normalization_rule_name="nmt_nfkc")
    assert charsmap, "nmt_nfkc model has no precompiled_charsmap"
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + pieces[4:] + [("<mask>", 0.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SP, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=SP, prepend_scheme="always")
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    return tok


def unigram_bf(lines, work):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    pieces, _ = train_spm(lines, os.path.join(work, "bf"), normalization_rule_name="identity", byte_fallback=True)
    tok = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Metaspace(replacement=SP, prepend_scheme="first")])
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Metaspace(replacement=SP, prepend_scheme="first")])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    return tok


def save_folder(tok, folder, config):
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1, ensure_ascii=False)


def goldens(tok, folder_name, overrides, corpus, pairs):
    import tokenizers
    cases = []
    for s in corpus:
        ids = tok.encode(s, add_special_tokens=True).ids
        cases.append({"ids": ids, "ids_nospecial": tok.encode(s, add_special_tokens=False).ids,
                      "decode_skip_special": tok.decode(ids, skip_special_tokens=True)})
    pair_out = []
    for a, b in pairs:
        e = tok.encode(a, b, add_special_tokens=True)
        pair_out.append({"ids": e.ids, "type_ids": e.type_ids})
    trunc = []
    for max_len, k in TRUNCATE:
        tok.enable_truncation(max_length=max_len)
        trunc.append({"max_length": max_len, "text": k, "ids": tok.encode(LONG[k]).ids})
        tok.no_truncation()
    return {"generator": "tokenizers " + tokenizers.__version__, "tokenizer": folder_name, "overrides": overrides,
            "corpus_size": len(corpus), "cases": cases, "pairs": pair_out, "long": LONG, "truncated": trunc}


def variant(base, changes):
    """A copy of `base` with some components replaced; returns (tokenizer, overrides json)."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_str(base.to_str())
    for k, v in changes.items():
        setattr(tok, k, v)
    full = json.loads(tok.to_str())
    return tok, {k: full[k] for k in changes}


def ranges(flags):
    out, start = [], None
    for cp, f in enumerate(flags):
        if f and start is None:
            start = cp
        elif not f and start is not None:
            out.append([start, cp - 1])
            start = None
    if start is not None:
        out.append([start, len(flags) - 1])
    return out


def unicode_tables():
    from tokenizers import normalizers, pre_tokenizers
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=False)
    chinese = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False,
                                         lowercase=False)
    strip = normalizers.StripAccents()
    lower = normalizers.Lowercase()
    bert_pre = pre_tokenizers.BertPreTokenizer()
    n = 0x110000
    removed, spaced, cjk, punct, marks, split_ws = ([False] * n for _ in range(6))
    lowercase = {}
    for cp in range(n):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        r = clean.normalize_str("a" + c + "a")
        removed[cp] = r == "aa"
        spaced[cp] = r == "a a" and c != " "
        cjk[cp] = chinese.normalize_str(c) == " " + c + " "
        marks[cp] = strip.normalize_str("a" + c) == "a"
        pieces = [p for p, _ in bert_pre.pre_tokenize_str("a" + c + "a")]
        punct[cp] = pieces == ["a", c, "a"]
        split_ws[cp] = pieces == ["a", "a"]
        lc = lower.normalize_str(c)
        if lc != c:
            lowercase[cp] = lc
    return {"bert_clean_removed": ranges(removed), "bert_clean_to_space": ranges(spaced),
            "bert_chinese": ranges(cjk), "bert_punctuation": ranges(punct), "bert_whitespace": ranges(split_ws),
            "strip_accents_removed": ranges(marks), "lowercase": {str(k): v for k, v in lowercase.items()}}


def cross_check_transformers(folder, tok, corpus):
    try:
        from transformers import AutoTokenizer
    except Exception as e:  # noqa: BLE001
        print("  transformers not importable (%s): cross-check skipped" % e)
        return
    try:
        t = AutoTokenizer.from_pretrained(folder)
    except Exception as e:  # noqa: BLE001
        print("  transformers cannot load %s (%s): cross-check skipped" % (folder, e))
        return
    bad = sum(1 for s in corpus if t(s)["input_ids"] != tok.encode(s).ids)
    print("  transformers %s agrees on %d/%d strings" % (folder, len(corpus) - bad, len(corpus)))


MODEL_SENTENCES = EXTRA[:24] + [LONG[0], LONG[2], "", "a"]


def make_models(out):
    import shutil

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    max_len = 64
    specs = []
    wp_vocab = len(json.load(open(os.path.join(out, "wordpiece", "tokenizer.json"), encoding="utf-8"))["model"]["vocab"])
    specs.append(("bert_mean", "wordpiece", BertModel, BertConfig(
        vocab_size=wp_vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=max_len, type_vocab_size=2, pad_token_id=0, hidden_act="gelu",
        layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), "mean", True))
    bf = json.load(open(os.path.join(out, "unigram_bf", "tokenizer.json"), encoding="utf-8"))
    bf_vocab = max([len(bf["model"]["vocab"])] + [a["id"] + 1 for a in bf["added_tokens"]])
    specs.append(("xlmr_cls", "unigram_bf", XLMRobertaModel, XLMRobertaConfig(
        vocab_size=bf_vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        max_position_embeddings=max_len + 2, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        hidden_act="gelu", layer_norm_eps=1e-5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
        "cls", False))
    for name, tok_folder, cls, cfg, pooling, normalize in specs:
        d = os.path.join(out, "models", name)
        shutil.rmtree(d, ignore_errors=True)
        model = cls(cfg, add_pooling_layer=False).float().eval()
        with torch.no_grad():  # non-trivial LayerNorm parameters, so a missed affine shows
            for n, p in model.named_parameters():
                if "LayerNorm" in n:
                    p.add_(torch.randn_like(p) * 0.1)
        model.save_pretrained(d, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(out, tok_folder, f), os.path.join(d, f))
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
            os.makedirs(os.path.join(d, "2_Normalize"), exist_ok=True)
        with open(os.path.join(d, "modules.json"), "w") as f:
            json.dump(modules, f, indent=1)
        with open(os.path.join(d, "sentence_bert_config.json"), "w") as f:
            json.dump({"max_seq_length": max_len, "do_lower_case": False}, f, indent=1)
        os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
        with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
            json.dump({"word_embedding_dimension": cfg.hidden_size, "pooling_mode_cls_token": pooling == "cls",
                       "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
                       "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
                       "pooling_mode_lasttoken": False, "include_prompt": True}, f, indent=1)
        st = SentenceTransformer(d, device="cpu").float()
        emb = st.encode(MODEL_SENTENCES, batch_size=4, convert_to_numpy=True)
        ids = [[int(x) for x in st.tokenize([s])["input_ids"][0]] for s in MODEL_SENTENCES]
        import sentence_transformers
        import transformers
        golden = {"generator": "sentence-transformers %s, transformers %s, torch %s (CPU, float32)" % (
            sentence_transformers.__version__, transformers.__version__, torch.__version__),
            "max_seq_length": max_len, "sentences": MODEL_SENTENCES, "ids": ids,
            "embeddings": [[float(v) for v in row] for row in emb]}
        with open(os.path.join(d, "golden.json"), "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False)
        print("%s: %d sentences, dim %d -> %s" % (name, len(MODEL_SENTENCES), emb.shape[1], d))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="repository root (training text and the tokenizer corpus)")
    ap.add_argument("--out", default="tests/data/encoder")
    ap.add_argument("--no-tables", action="store_true", help="skip unicode_tables.json (about a minute)")
    ap.add_argument("--models", action="store_true", help="also write tiny BERT / XLM-R sentence-transformers models")
    args = ap.parse_args()
    import tempfile

    from tokenizers import normalizers, processors
    os.makedirs(args.out, exist_ok=True)
    lines = read_text(args.root)
    corpus = test_corpus(args.root)
    with open(os.path.join(args.out, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(corpus, f, ensure_ascii=False, indent=0)
    with open(os.path.join(args.out, "pairs.json"), "w", encoding="utf-8") as f:
        json.dump(PAIRS, f, ensure_ascii=False, indent=0)
    print("training text: %d lines; test corpus: %d strings" % (len(lines), len(corpus)))

    work = tempfile.mkdtemp(prefix="ignis_spm_")
    wp = wordpiece(lines)
    wp_cfg = {"tokenizer_class": "BertTokenizerFast", "do_lower_case": True, "unk_token": "[UNK]",
              "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
              "model_max_length": 512, "clean_up_tokenization_spaces": False}
    xl = unigram_xlmr(lines, work)
    xl_cfg = {"tokenizer_class": "XLMRobertaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>",
              "mask_token": "<mask>", "model_max_length": 512, "clean_up_tokenization_spaces": False}
    bf = unigram_bf(lines, work)
    bf_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "pad_token": "<pad>", "model_max_length": 512,
              "clean_up_tokenization_spaces": False}
    for tok, name, cfg in ((wp, "wordpiece", wp_cfg), (xl, "unigram_xlmr", xl_cfg), (bf, "unigram_bf", bf_cfg)):
        save_folder(tok, os.path.join(args.out, name), cfg)

    sep, cls = wp.token_to_id("[SEP]"), wp.token_to_id("[CLS]")
    cased, cased_ov = variant(wp, {"normalizer": normalizers.BertNormalizer(lowercase=False),
                                   "post_processor": processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))})
    nocjk, nocjk_ov = variant(wp, {"normalizer": normalizers.BertNormalizer(handle_chinese_chars=False,
                                                                            strip_accents=True, lowercase=False)})
    variants = {  # name -> (tokenizer, folder, overrides of the folder's tokenizer.json)
        "wordpiece": (wp, "wordpiece", {}),
        "wordpiece_cased": (cased, "wordpiece", cased_ov),
        "wordpiece_chinese_off": (nocjk, "wordpiece", nocjk_ov),
        "unigram_xlmr": (xl, "unigram_xlmr", {}),
        "unigram_bf": (bf, "unigram_bf", {}),
    }
    for vname, (tok, folder, overrides) in variants.items():
        g = goldens(tok, folder, overrides, corpus, PAIRS)
        path = os.path.join(args.out, "goldens_%s.json" % vname)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(g, f, ensure_ascii=False, separators=(",", ":"))
        unk = sum(c["ids"].count(tok.token_to_id("[UNK]" if "wordpiece" in folder else "<unk>")) for c in g["cases"])
        print("%s: %d cases, %d unk ids -> %s" % (vname, len(g["cases"]), unk, path))
    for name in ("wordpiece", "unigram_xlmr", "unigram_bf"):
        cross_check_transformers(os.path.join(args.out, name), variants[name][0], corpus)

    if not args.no_tables:
        with open(os.path.join(args.out, "unicode_tables.json"), "w", encoding="utf-8") as f:
            json.dump(unicode_tables(), f, ensure_ascii=False, separators=(",", ":"))
        print("unicode_tables.json written")
    if args.models:
        make_models(args.out)
    total = 0
    for dirpath, _, files in os.walk(args.out):
        total += sum(os.path.getsize(os.path.join(dirpath, x)) for x in files)
    print("total size of %s: %.0f KB" % (args.out, total / 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
