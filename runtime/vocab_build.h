/* vocab_build.h - token frequencies over a text corpus with the target's tokenizer, for building
 * FR-Spec token lists (what FR-Spec's fr/fr.py does over SlimPajama).
 *
 * Input files (plain or gzip: every file goes through zlib's gzread, which passes plain files
 * through): *.jsonl / *.jsonl.gz / *.json hold one JSON value a line and every string in it
 * (recursively, or only the values of one key with opts.field) is encoded on its own; any other
 * file is plain text, encoded as if whole: it is cut into chunks only at points where the Llama-3
 * (and GPT-2) pre-tokenizer regex always ends a pre-token (after a newline followed by a printable
 * ASCII character; for very long lines, between an ASCII letter and a space followed by a letter),
 * so the counts equal those of encoding the whole file.
 * Chunks are encoded by opts.threads worker threads, each counting into its own array.
 *
 * defines: struct vocab_build_opts, struct vocab_counts, vocab_count_files, vocab_counts_free,
 *          vocab_top_k
 */
#ifndef FRSPEC_VOCAB_BUILD_H
#define FRSPEC_VOCAB_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tokenizer.h"

struct vocab_build_opts {
    const char *field;  /* JSONL: only the string values of this key (at any depth); NULL: all */
    int add_special;    /* add the post-processor's tokens (BOS) to each text: fr.py does; default 0 */
    int threads;        /* encoding threads; <= 0: 2 (or 1 on a single CPU) */
    size_t chunk_bytes; /* text chunk target size; 0: 1 MiB */
    int progress;       /* print progress lines to stderr every few seconds */
};

struct vocab_counts {
    int vocab;            /* tokenizer_vocab_size */
    int64_t *count;       /* (vocab) */
    int64_t total_tokens; /* sum of count */
    int64_t bytes;        /* text bytes encoded */
    int64_t texts;        /* text pieces encoded (JSON strings, text chunks) */
    double seconds;       /* wall time of the counting */
};

enum frs_status vocab_count_files(const struct frs_tokenizer *tok, const char *const *paths, int n_paths,
                                  const struct vocab_build_opts *opts, struct vocab_counts *out);
void vocab_counts_free(struct vocab_counts *c);

/* The k ids with the largest counts, most frequent first, ties by the smaller id (ids never seen
 * come last, by id). *covered: the sum of their counts. Errors: k <= 0 or k > vocab. */
enum frs_status vocab_top_k(const struct vocab_counts *c, int k, int32_t **ids, int64_t *covered);

#endif
