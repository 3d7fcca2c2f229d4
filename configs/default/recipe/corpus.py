#!/usr/bin/env python3
"""corpus.py - the offline training corpus of the default model pair (deterministic).

Reads Debian packages unpacked by corpus.sh (English docs, dictionaries, code, math) plus the
GSM8K *train* split, cuts them into documents, removes exact duplicates, shuffles with a fixed
seed, holds out 1% of the documents for perplexity, and writes xz-compressed JSON lines
(one {"s": source, "t": text} per line):
    OUT/train-NN.jsonl.xz   training documents (shards of about 8 MiB compressed)
    OUT/heldout.jsonl.xz    held-out documents (never trained on)
    OUT/stats.json          documents, bytes and (with --count) Llama-3 tokens per source

No benchmark prompt set (Spec-Bench, MT-Bench, HumanEval, GSM8K test, EAGLE's sets) is read.

usage: corpus.py --root /tmp/trcorp/x --gsm8k /work/shared/data/prompts/gsm8k_train.jsonl \
                 --out .carry/train/corpus [--tokenizer tokenizer.json --count]
"""
import argparse
import base64
import glob
import gzip
import hashlib
import html.parser
import json
import lzma
import os
import random
import re
import sys

SEED = 20250226
MAX_DOC = 32 * 1024          # longer files are cut at line boundaries into pieces of about this size
HOLDOUT = 0.01


def read_text(path):
    if path.endswith(".gz") or path.endswith(".dz"):
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    return data.decode("utf-8", errors="replace")


def split_long(text):
    """Cut text at line boundaries into pieces of at most about MAX_DOC characters."""
    if len(text) <= MAX_DOC:
        return [text]
    out, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        if n + len(line) > MAX_DOC and cur:
            out.append("".join(cur))
            cur, n = [], 0
        cur.append(line)
        n += len(line)
    if cur:
        out.append("".join(cur))
    return out


class HTMLText(html.parser.HTMLParser):
    """Visible text of an HTML page: skips script/style, breaks lines at block elements."""
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dt", "dd",
             "table", "ul", "ol", "dl", "hr", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(src):
    p = HTMLText()
    p.feed(src)
    p.close()
    text = "".join(p.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def dictd_num(s):
    v = 0
    for c in s:
        v = v * 64 + B64.index(c)
    return v


def dict_docs(root, name, per_doc=40):
    """dictd database: entries located by the .index, grouped in index order."""
    base = os.path.join(root, "usr/share/dictd", name)
    data = gzip.open(base + ".dict.dz", "rb").read()
    entries, seen = [], set()
    with open(base + ".index", encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00-database"):
                continue
            off, ln = dictd_num(parts[1]), dictd_num(parts[2])
            if (off, ln) in seen:
                continue
            seen.add((off, ln))
            entries.append(data[off:off + ln].decode("utf-8", errors="replace").strip("\n"))
    for i in range(0, len(entries), per_doc):
        yield "\n\n".join(entries[i:i + per_doc]) + "\n"


def files(pattern, root, exclude=None):
    out = sorted(glob.glob(os.path.join(root, pattern), recursive=True))
    if exclude:
        out = [p for p in out if not re.search(exclude, p)]
    return out


def capped(gen, cap):
    """The first documents of gen up to cap characters (cap 0: all)."""
    n = 0
    for d in gen:
        if cap and n + len(d) > cap:
            break
        n += len(d)
        yield d


def fortune_docs(root):
    """fortune-mod's plain (non-offensive) cookie files: entries split at lines of '%', 30 per document."""
    for p in files("fortunes/usr/share/games/fortunes/*", root):
        if "." in os.path.basename(p) or os.path.isdir(p):
            continue
        entries = [e.strip("\n") for e in read_text(p).split("\n%\n") if e.strip()]
        for i in range(0, len(entries), 30):
            yield "\n\n".join(entries[i:i + 30]) + "\n"


def collect(root, gsm8k, go_cap, sympy_cap, gcide_cap):
    """Yield (source, text) in a fixed order. Packages of English prose first (the mix favours
    English: code and the big dictionary are capped)."""
    for d in capped(dict_docs(os.path.join(root, "dict-gcide"), "gcide"), gcide_cap):
        yield "dict-gcide", d
    for d in dict_docs(os.path.join(root, "dict-wn"), "wn"):
        yield "dict-wn", d
    for name in ("jargon", "foldoc", "devil"):
        pkg = os.path.join(root, "dict-" + name)
        if os.path.isdir(pkg):
            for d in dict_docs(pkg, name, per_doc=20):
                yield "dict-" + name, d
    if os.path.isdir(os.path.join(root, "fortunes")):
        for d in fortune_docs(root):
            yield "fortunes", d
    for p in files("debian-handbook/usr/share/doc/debian-handbook/html/en-US/*.html", root):
        yield "debian-handbook", html_to_text(read_text(p))
    for p in files("debian-reference-en/usr/share/debian-reference/*.en.html", root):
        yield "debian-reference", html_to_text(read_text(p))
    for p in files("postgresql-doc-15/usr/share/doc/postgresql-doc-15/html/*.html", root):
        yield "postgresql-doc", html_to_text(read_text(p))
    for p in files("python-django-doc/usr/share/doc/python-django-doc/html/**/*.html", root,
                   exclude=r"/(_modules|genindex|py-modindex|search)"):
        yield "django-doc", html_to_text(read_text(p))
    for p in files("git-doc/usr/share/doc/git-doc/*.txt", root):
        yield "git-doc", read_text(p)
    ldoc = os.path.join(root, "linux-doc-6.1/usr/share/doc/linux-doc-6.1/Documentation")
    for p in files("**/*.gz", ldoc):
        base = os.path.basename(p)[:-3]
        if base.endswith((".rst", ".txt")) or "." not in base:
            yield "linux-doc", read_text(p)
    pydoc = os.path.join(root, "python3.11-doc/usr/share/doc/python3.11/html/_sources")
    for p in files("**/*.rst.txt", pydoc):
        yield "python-doc", read_text(p)
    for p in files("perl-doc/usr/share/perl/**/*.pod", root) + files("perl-doc/usr/share/doc/perl/*.pod.gz", root):
        yield "perl-doc", read_text(p)
    for p in files("maxima-doc/usr/share/doc/maxima-doc/html/*.html", root):
        yield "maxima-doc", html_to_text(read_text(p))
    go = (read_text(p) for p in files("golang-1.19-src/usr/share/go-1.19/src/**/*.go", root, exclude=r"/testdata/"))
    for t in capped(go, go_cap):
        yield "go-src", t
    sp = (read_text(p) for p in files("python3-sympy/usr/lib/python3/dist-packages/sympy/**/*.py", root))
    for t in capped(sp, sympy_cap):
        yield "sympy-src", t
    with open(gsm8k, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            yield "gsm8k-train", r["question"] + "\n" + r["answer"] + "\n"


def write_shards(docs, path_fmt, shard_bytes):
    paths, cur, n, i = [], [], 0, 0

    def flush():
        nonlocal cur, n, i
        p = path_fmt % i if "%" in path_fmt else path_fmt
        with lzma.open(p, "wb", preset=6) as f:
            f.write("".join(cur).encode("utf-8"))
        paths.append(p)
        cur, n, i = [], 0, i + 1

    for src, t in docs:
        line = json.dumps({"s": src, "t": t}, ensure_ascii=False) + "\n"
        cur.append(line)
        n += len(line)
        if n >= shard_bytes:
            flush()
    if cur:
        flush()
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True, help="folder with one unpacked package per subfolder")
    ap.add_argument("--gsm8k", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--go-cap", type=int, default=8 << 20, help="characters of Go source to keep (0: all)")
    ap.add_argument("--sympy-cap", type=int, default=8 << 20, help="characters of SymPy source to keep (0: all)")
    ap.add_argument("--gcide-cap", type=int, default=24 << 20, help="characters of GCIDE entries to keep (0: all)")
    ap.add_argument("--shard-bytes", type=int, default=48 << 20, help="raw bytes per train shard")
    ap.add_argument("--tokenizer", help="tokenizer.json, to count tokens (with --count)")
    ap.add_argument("--count", action="store_true")
    a = ap.parse_args()

    docs, seen, dups = [], set(), 0
    for src, text in collect(a.root, a.gsm8k, a.go_cap, a.sympy_cap, a.gcide_cap):
        text = text.replace("\r\n", "\n")
        for piece in split_long(text):
            if len(piece.strip()) < 64:
                continue
            h = hashlib.sha1(" ".join(piece.split()).encode("utf-8")).digest()
            if h in seen:
                dups += 1
                continue
            seen.add(h)
            docs.append((src, piece))
    rng = random.Random(SEED)
    rng.shuffle(docs)
    n_hold = max(1, int(len(docs) * HOLDOUT))
    held, train = docs[:n_hold], docs[n_hold:]

    os.makedirs(a.out, exist_ok=True)
    for p in glob.glob(os.path.join(a.out, "*.jsonl.xz")):
        os.remove(p)
    tp = write_shards(train, os.path.join(a.out, "train-%02d.jsonl.xz"), a.shard_bytes)
    hp = write_shards(held, os.path.join(a.out, "heldout.jsonl.xz"), 1 << 62)

    stats = {"seed": SEED, "documents": len(docs), "duplicates_dropped": dups, "train_docs": len(train),
             "heldout_docs": len(held), "files": {os.path.basename(p): os.path.getsize(p) for p in tp + hp},
             "sources": {}}
    tok = None
    if a.count and a.tokenizer:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(a.tokenizer)
    for split, ds in (("train", train), ("heldout", held)):
        for src, t in ds:
            s = stats["sources"].setdefault(src, {"train_docs": 0, "heldout_docs": 0, "bytes": 0, "tokens": 0})
            s[split + "_docs"] += 1
            s["bytes"] += len(t.encode("utf-8"))
    if tok:
        for split, ds in (("train", train), ("heldout", held)):
            for i in range(0, len(ds), 2048):
                batch = ds[i:i + 2048]
                enc = tok.encode_batch([t for _, t in batch], add_special_tokens=False)
                for (src, _), e in zip(batch, enc):
                    stats["sources"][src]["tokens"] += len(e.ids)
                    stats[split + "_tokens"] = stats.get(split + "_tokens", 0) + len(e.ids)
    with open(os.path.join(a.out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
    json.dump(stats, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
