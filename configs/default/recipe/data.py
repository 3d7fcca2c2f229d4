"""data.py - corpus loading, tokenisation and packing shared by train_target.py and train_eagle.py.

Documents come from corpus.py's xz JSON lines. Each document becomes
<|begin_of_text|> ids... <|end_of_text|>; GSM8K documents are rendered as one Llama-3 chat turn
(user = question, assistant = answer, closed by <|eot_id|>) so that the model also knows the chat
format used by `frspec generate --chat`. The token stream is cut into rows of seq_len + 1.
"""
import glob
import json
import lzma
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

BOS, EOT, EOT_ID = 128000, 128001, 128009


def _read_shard(path):
    out = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            out.append((d["s"], d["t"]))
    return out


def load_docs(corpus_dir, split, max_shards=None):
    """split: 'train' or 'heldout'. Returns [(source, text)] in file order."""
    paths = sorted(glob.glob(os.path.join(corpus_dir, split + "*.jsonl.xz")))
    if max_shards:
        paths = paths[:max_shards]
    if not paths:
        raise SystemExit("no %s shards under %s" % (split, corpus_dir))
    with ProcessPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as ex:
        parts = list(ex.map(_read_shard, paths))
    return [d for p in parts for d in p]


def render(src, text):
    if src == "gsm8k-train":
        q, _, a = text.partition("\n")
        return ("<|start_header_id|>user<|end_header_id|>\n\n" + q.strip() +
                "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" + a.strip() + "<|eot_id|>")
    return text


def encode_docs(tok, docs, batch=4096):
    """One int32 stream: BOS doc EOT BOS doc EOT ... (tokenizers runs its own thread pool)."""
    chunks = []
    for i in range(0, len(docs), batch):
        enc = tok.encode_batch([render(s, t) for s, t in docs[i:i + batch]], add_special_tokens=False)
        for e in enc:
            chunks.append(np.asarray([BOS] + e.ids + [EOT], dtype=np.int32))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int32)


def pack(stream, seq_len):
    """Rows of seq_len + 1 tokens (inputs = row[:-1], labels = row[1:]); the tail is dropped."""
    n = len(stream) // (seq_len + 1)
    return stream[: n * (seq_len + 1)].reshape(n, seq_len + 1)
