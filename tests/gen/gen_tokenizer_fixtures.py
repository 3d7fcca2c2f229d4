#!/usr/bin/env python3
"""gen_tokenizer_fixtures.py - reference data for tests/test_tokenizer.c, from Hugging Face
`tokenizers` (HF's own implementation) run on the real Llama 3.1 tokenizer.json.

Writes under tests/fixtures/tokenizer/:
  llama3.1-tokenizer.json.gz  the real tokenizer (copied, gzipped; sha256 checked)
  llama3_cases.jsonl.gz       one JSON object a line:
      {"kind": "encode", "text" | "hex", "ids", "ids_plain", "skip" | "skip_hex"}
                                encode(text, True / False), and decode(ids, skip_special_tokens=True)
      {"kind": "decode", "ids", "text_hex", "text_skip_hex"}   decode of arbitrary ids (UTF-8 as hex)
      {"kind": "bytes", "hex", "lossy_hex"}           invalid UTF-8: what decode(encode(x)) must give
      {"kind": "chat", "system", "user", "ids"}       Llama-3 chat format, Meta's ChatFormat layout
      {"kind": "meta", "vocab_size", "tokens": {str: id}}   get_vocab_size(), token_to_id of a few tokens
  tiny_cases.jsonl.gz         encode cases for tests/fixtures/tiny-tokenizer/tokenizer.json
  variant-tokenizer.json      a small GPT-2-style byte-level BPE (ByteLevel pre-tokenizer with its
                              regex and prefix space, no ignore_merges, "<s> $A </s>" template,
                              added tokens with lstrip/rstrip/single_word/normalized)
  variant_cases.jsonl.gz      encode cases for it

Texts: English, code in several languages, numbers and digit runs, whitespace runs, accents, CJK,
emoji, RTL, contractions in various cases, special tokens inside text, the empty string, very long
words, random Unicode, plus prompts from DATA/prompts. Deterministic (seeded).
Texts with a NUL are stored as hex of their UTF-8 (cJSON strings stop at NUL).

usage: python3 tests/gen/gen_tokenizer_fixtures.py --data DATA
"""
import argparse
import gzip
import hashlib
import json
import os
import random

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "tokenizer")
TINY = os.path.join(HERE, "..", "fixtures", "tiny-tokenizer", "tokenizer.json")
LLAMA_SHA256 = "76e48799b099d43365bd24ccd8ecc5aedac831718da780552f03b0a6eb4412aa"

CODE = [
    '#include <stdio.h>\n\nint main(int argc, char **argv) {\n    printf("hello, %s\\n", argv[0]);\n    return 0;\n}\n',
    "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tch <- 42\n\tfmt.Println(<-ch)\n}\n",
    "const sum = (xs) => xs.reduce((a, b) => a + b, 0);\nconsole.log(`sum=${sum([1, 2, 3])}`);\n",
    "SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total > 100.50 GROUP BY u.id;",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do\n  wc -l \"$f\" | awk '{print $1}'\ndone\n",
    "<html>\n  <body class=\"main\">\n    <p>Hello &amp; welcome!</p>\n  </body>\n</html>\n",
    "template <typename T>\nstd::vector<T> twice(const std::vector<T>& v) { auto r = v; r.insert(r.end(), v.begin(), v.end()); return r; }",
    "\\begin{equation} E = mc^2 \\quad \\int_0^\\infty e^{-x^2} dx = \\frac{\\sqrt{\\pi}}{2} \\end{equation}",
    "{\"key\": [1, 2.5, -3e10, null, true], \"nested\": {\"a\": \"b\"}}",
    "x+=1;y-=2;z*=3;w/=4;if(a&&b||!c){return a<<2|b>>1^~c;}",
]

MISC = [
    "Hello, my dog is cute", "Hello world", "hello", " Hello", "HELLO WORLD!!!", "",
    " ", "  ", "\t", "\n", "\n\n", "\r\n", " \n ", "a  b", "a   \n   b", "trailing spaces   ",
    "   leading spaces", "tabs\tand\t\ttabs", "mixed \t \n \t whitespace\n\n\n", "line1\nline2\r\nline3\rline4",
    "ends with newline\n", "many\n\n\n\n\n\nnewlines", "    indented code", " \t\n\r\x0b\x0c",
    "1234567890", "12345678901234567890123456789012345678901234567890", "3.14159265358979", "1,000,000.00",
    "0x1F2E3D", "2024-01-15T12:34:56Z", "+1 (555) 123-4567", "v1.2.3-rc4", "$100 and 50% off", "1e-10",
    "I'm", "I'M", "you're", "YOU'RE", "You'Re", "she'S", "we've", "WE'VE", "they'll", "THEY'LL", "he'd",
    "it's", "It'S", "don't", "DON'T", "can't", "isn't", "'s", "'t", "''", "'hello'", "rock 'n' roll",
    "it\u2019s", "I\u2019M", "o'clock", "The dogs' bones", "naïve ’quotes’",
    "café naïve résumé façade", "Ångström über Straße", "İstanbul ıi ŞĞ", "Tiếng Việt có dấu",
    "e\u0301 combining acute", "ﬁ ligature", "Ελληνικά κείμενο", "Русский текст, привет!",
    "中文文本测试，你好世界。", "日本語のテキスト、こんにちは。カタカナ", "한국어 텍스트 안녕하세요",
    "混合 mixed テキスト text 123", "عربي: مرحبا بالعالم", "עברית: שלום עולם", "हिन्दी पाठ नमस्ते",
    "ภาษาไทย สวัสดี", "emoji 😀😃😄 done", "👍🏽 skin tone", "👨‍👩‍👧‍👦 family", "🇫🇷🇯🇵 flags",
    "❤️ heart with VS16", "math ∑∫√∞ ≠ ≤ ≥", "arrows → ← ↑ ↓", "box ─│┌┐└┘", "™ © ® ° ± ×",
    "a\u180e'll", "x \u180e y", "\u180e\u180e", "nbsp\u00a0here", "ideographic\u3000space", "em\u2003space", "zero\u200bwidth", "nel\u0085here",
    "ctrl \x01\x02\x03\x7f chars", "a\x00b nul", "\ufeffBOM at start", "\ud7ff\ue000\uffff",
    "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "https://example.com/path/to/page?query=1&other=two#frag", "user@example.com",
    "C:\\Windows\\System32\\drivers", "/usr/local/lib/python3.11/site-packages",
    "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ=", "!!!???...,,,;;;", "---===+++***", "((()))[[[]]]{{{}}}",
    "....................", "________________", "#####  Heading", "* bullet\n* list\n  - nested",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "<|begin_of_text|>Hello<|eot_id|>", "<|eot_id|>", "<|eot_id|><|eot_id|>", "text <|eot_id|> text",
    "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|eot_id", "<|eot_id|", "< |eot_id|>", "<|EOT_ID|>", "<<|eot_id|>>", "<|reserved_special_token_5|>x",
    "a<|end_of_text|>b<|eom_id|>c<|python_tag|>d", "<|finetune_right_pad_id|>", "<|begin_of_text|>",
    "<s> </s> <unk> <|endoftext|>",
]


def long_texts(rng):
    out = ["a" * 1000, "ab" * 700, "x" * 3000, " " * 500, "\n" * 300, "9" * 400, "\t" * 200,
           "The quick brown fox jumps over the lazy dog. " * 40]
    letters = "abcdefghijklmnopqrstuvwxyz"
    out.append("".join(rng.choice(letters) for _ in range(600)))
    out.append("".join(rng.choice(letters + "ÉéÜüßñ") for _ in range(400)))
    return out


def random_unicode(rng, n):
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x52F), (0x590, 0x6FF), (0x900, 0x97F),
              (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0x1F300, 0x1F64F),
              (0x2000, 0x206F), (0x0, 0x1F)]
    out = []
    for _ in range(n):
        k = rng.randint(1, 40)
        chars = []
        for _ in range(k):
            lo, hi = rng.choice(ranges)
            c = rng.randint(lo, hi)
            if c == 0 or 0xD800 <= c <= 0xDFFF:
                c = 0x41
            chars.append(chr(c))
        out.append("".join(chars))
    return out


def prompts(data, rng):
    p = os.path.join(data, "prompts")
    out = []
    with open(os.path.join(p, "spec_bench_question.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for r in rng.sample(rows, 60):
        out.append(r["turns"][0])
    with open(os.path.join(p, "gsm8k_test.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for r in rng.sample(rows, 25):
        out.append(r["question"] + "\n" + r["answer"])
    with gzip.open(os.path.join(p, "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for r in rng.sample(rows, 20):
        out.append(r["prompt"] + r["canonical_solution"])
    return out


def text_field(s):
    return {"hex": s.encode("utf-8").hex()} if "\x00" in s else {"text": s}


def skip_field(s):
    return {"skip_hex": s.encode("utf-8").hex()} if "\x00" in s else {"skip": s}


def encode_cases(tok, texts):
    rows = []
    for s in texts:
        ids = tok.encode(s, add_special_tokens=True).ids
        plain = tok.encode(s, add_special_tokens=False).ids
        back = tok.decode(plain, skip_special_tokens=False)
        assert back == s, f"decode(encode(x)) != x for {s!r}: {back!r}"
        row = {"kind": "encode"}
        row.update(text_field(s))
        row.update({"ids": ids, "ids_plain": plain})
        row.update(skip_field(tok.decode(ids, skip_special_tokens=True)))
        rows.append(row)
    return rows


def write_jsonl_gz(path, rows):
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    with open(path, "wb") as f:  # mtime 0: the same bytes every run
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
            g.write(data)
    print(f"wrote {path}: {len(rows)} cases, {os.path.getsize(path)} bytes")


def meta_row(tok, names):
    return {"kind": "meta", "vocab_size": tok.get_vocab_size(),
            "tokens": {s: tok.token_to_id(s) for s in names if tok.token_to_id(s) is not None}}


def llama_cases(tok, texts, rng):
    rows = [meta_row(tok, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>",
                           "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_247|>",
                           "Hello", "Ġthe", "ĊĊ", "!", "ĠĠĠ"])]
    rows += encode_cases(tok, texts)
    n = tok.get_vocab_size()
    for i in range(40):  # arbitrary ids: byte tokens split UTF-8, specials mixed in
        k = rng.randint(0, 30)
        ids = [rng.randrange(n) if rng.random() < 0.8 else rng.randrange(128000, n) for _ in range(k)]
        if i % 4 == 0:
            ids += [rng.randrange(128, 188) for _ in range(3)]  # lone byte-level bytes >= 0x80
        rows.append({"kind": "decode", "ids": ids,
                     "text_hex": tok.decode(ids, skip_special_tokens=False).encode("utf-8").hex(),
                     "text_skip_hex": tok.decode(ids, skip_special_tokens=True).encode("utf-8").hex()})
    for i in range(30):  # invalid UTF-8: no HF reference for encode; decode must give the lossy text
        k = rng.randint(1, 60)
        b = bytes(rng.randrange(256) for _ in range(k)) if i % 2 else \
            ("ok " + "é中😀"[i % 3]).encode("utf-8")[: -1 - i % 2] + bytes([0xff, 0x80, 0xe2, 0x82]) + b"end"
        rows.append({"kind": "bytes", "hex": b.hex(),
                     "lossy_hex": b.decode("utf-8", errors="replace").encode("utf-8").hex()})
    chats = [(None, "Hello!"), ("You are a helpful assistant.", "What is 2+2?"),
             ("  Be brief. \n", "\n  Write a haiku about the sea.\n\n"),
             (None, "Translate to French: I'm fine, thanks."), ("", "def f(x):\n    return x"),
             ("Réponds en français.", "Qu'est-ce que c'est ? 😀"), (None, "   ")]
    for system, user in chats:
        ids = [tok.token_to_id("<|begin_of_text|>")]
        for role, content in (("system", system), ("user", user)):
            if content is None:
                continue
            ids += [tok.token_to_id("<|start_header_id|>")] + tok.encode(role, add_special_tokens=False).ids
            ids += [tok.token_to_id("<|end_header_id|>")] + tok.encode("\n\n", add_special_tokens=False).ids
            ids += tok.encode(content.strip(), add_special_tokens=False).ids + [tok.token_to_id("<|eot_id|>")]
        ids += [tok.token_to_id("<|start_header_id|>")] + tok.encode("assistant", add_special_tokens=False).ids
        ids += [tok.token_to_id("<|end_header_id|>")] + tok.encode("\n\n", add_special_tokens=False).ids
        rows.append({"kind": "chat", "system": system, "user": user, "ids": ids})
    return rows


def variant_tokenizer(data):
    texts = []
    with open(os.path.join(data, "prompts", "mt_bench_question.jsonl"), encoding="utf-8") as f:
        for line in f:
            texts.extend(json.loads(line)["turns"])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens(["<s>", "</s>", AddedToken("<mask>", lstrip=True, rstrip=True, special=True)])
    tok.add_tokens([AddedToken("[NS]", normalized=False), AddedToken("dog", single_word=True, normalized=False),
                    AddedToken("hello world", normalized=True), AddedToken("ab", normalized=False),
                    AddedToken("abc", normalized=True)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    d = json.loads(tok.to_str())
    d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    return json.dumps(d, ensure_ascii=False, indent=1)


VARIANT_TEXTS = [
    "Hello world", "hello world", "say hello world now", " leading", "a <mask> b", "a<mask>b",
    "x   <mask>   y", "<mask>", "[NS]x[NS]", "dog", "a dog b", "hotdog dogs dog.", "_dog", "dog_",
    "abc abcd ab", "xabcx", "<s>hi</s>", "I'm 12345 years", "tabs\tand\nnewlines  ", "", " ",
    "café 中文 😀", "don't STOP", "a\u00a0<mask>\u00a0b", "dog\u0301", "\u00bddog", "dog\u0f76</s>",
    "\u2460dog\u1b52", "dog_dog", "\u0661dog", "dog\u200d",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True,
                    help="data directory: llama3.1-tokenizer/tokenizer.json and prompts/ (tests/README.md)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(1234)

    src = os.path.join(args.data, "llama3.1-tokenizer", "tokenizer.json")
    raw = open(src, "rb").read()
    assert hashlib.sha256(raw).hexdigest() == LLAMA_SHA256, "unexpected tokenizer.json"
    gz = os.path.join(OUT, "llama3.1-tokenizer.json.gz")
    with open(gz, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="", compresslevel=9) as g:
            g.write(raw)
    print(f"wrote {gz}: {os.path.getsize(gz)} bytes")

    tok = Tokenizer.from_file(src)
    assert tok.encode("Hello, my dog is cute").ids == [128000, 9906, 11, 856, 5679, 374, 19369]
    texts = MISC + CODE + long_texts(rng) + random_unicode(rng, 60) + prompts(args.data, rng)
    write_jsonl_gz(os.path.join(OUT, "llama3_cases.jsonl.gz"), llama_cases(tok, texts, rng))

    tiny = Tokenizer.from_file(TINY)
    tiny_texts = MISC[:60] + CODE[:4] + random_unicode(rng, 10) + long_texts(rng)[:3]
    rows = [meta_row(tiny, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                            "<|end_header_id|>", "Ġt", "a"])]
    write_jsonl_gz(os.path.join(OUT, "tiny_cases.jsonl.gz"), rows + encode_cases(tiny, tiny_texts))

    vpath = os.path.join(OUT, "variant-tokenizer.json")
    with open(vpath, "w", encoding="utf-8") as f:
        f.write(variant_tokenizer(args.data))
    var = Tokenizer.from_file(vpath)
    rows = [meta_row(var, ["<s>", "</s>", "<mask>", "[NS]", "hello world"])]
    for s in VARIANT_TEXTS + MISC[:50] + random_unicode(rng, 10):
        row = {"kind": "encode"}
        row.update(text_field(s))
        row.update({"ids": var.encode(s).ids, "ids_plain": var.encode(s, add_special_tokens=False).ids})
        row.update(skip_field(var.decode(var.encode(s).ids, skip_special_tokens=True)))
        rows.append(row)  # no round-trip here: the prefix space and lstrip/rstrip lose text
    write_jsonl_gz(os.path.join(OUT, "variant_cases.jsonl.gz"), rows)


if __name__ == "__main__":
    main()
