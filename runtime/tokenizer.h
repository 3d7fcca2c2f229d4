/* tokenizer.h - Hugging Face tokenizer.json byte-level BPE as Llama 3 uses it (ignore_merges,
 * the regex pre-tokenizer with Unicode classes through PCRE2, added and special tokens, the
 * TemplateProcessing post-processor's BOS), and the Llama-3 chat format.
 *
 * defines: struct frs_tokenizer (opaque), tokenizer_load, tokenizer_free, tokenizer_encode,
 *          tokenizer_decode, tokenizer_token_bytes, tokenizer_token_id, tokenizer_vocab_size,
 *          tokenizer_bos_id, tokenizer_is_special, tokenizer_apply_chat, tokenizer_stop_ids
 */
#ifndef FRSPEC_TOKENIZER_H
#define FRSPEC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct frs_tokenizer;

/* path: a tokenizer.json file. Errors name the file and the field. */
enum frs_status tokenizer_load(struct frs_tokenizer **out, const char *path);
void tokenizer_free(struct frs_tokenizer *t);

/* ids of the UTF-8 text (len bytes), as HF tokenizers' encode(text, add_special_tokens=add_special)
 * gives them: added/special tokens written in the text are recognised; add_special adds what the
 * post-processor adds (BOS for Llama 3). *ids is malloc'ed, the caller frees it.
 * Invalid UTF-8 is accepted: its bytes are encoded exactly (the token bytes give the input back).
 * Thread-safe: one loaded tokenizer may encode from several threads at once. */
enum frs_status tokenizer_encode(const struct frs_tokenizer *t, const char *text, size_t len,
                                 int add_special, int32_t **ids, int *n);
/* Text of ids (skip_special drops special tokens). *text is malloc'ed and NUL-terminated.
 * As HF: invalid UTF-8 in the joined bytes becomes U+FFFD. An id with no token: FRS_ERR_INVALID_ARG. */
enum frs_status tokenizer_decode(const struct frs_tokenizer *t, const int32_t *ids, int n,
                                 int skip_special, char **text, size_t *len);
/* Raw bytes of one token (for streaming: may be part of a UTF-8 sequence); NULL if out of range. */
const char *tokenizer_token_bytes(const struct frs_tokenizer *t, int32_t id, size_t *len);
/* id of a token given by its string in the vocabulary or added tokens ("<|eot_id|>"); -1 if none. */
int32_t tokenizer_token_id(const struct frs_tokenizer *t, const char *token);
int tokenizer_vocab_size(const struct frs_tokenizer *t); /* largest id + 1 */
int32_t tokenizer_bos_id(const struct frs_tokenizer *t);  /* -1 if none */
int tokenizer_is_special(const struct frs_tokenizer *t, int32_t id);

/* Llama-3 chat prompt: <|begin_of_text|>[system turn]<|start_header_id|>user<|end_header_id|>\n\n
 * {user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n. system may be NULL.
 * As Meta's reference ChatFormat: special tokens by name, each content stripped of leading and
 * trailing whitespace and encoded as plain text (a "<|eot_id|>" written in it is not a special). */
enum frs_status tokenizer_apply_chat(const struct frs_tokenizer *t, const char *system,
                                     const char *user, int32_t **ids, int *n);

/* Ids of the Llama-3 stop tokens this tokenizer has (<|eot_id|>, <|end_of_text|>, <|eom_id|>, in
 * that order), at most max of them; returns how many. */
int tokenizer_stop_ids(const struct frs_tokenizer *t, int32_t *ids, int max);

#endif
