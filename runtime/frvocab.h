/* frvocab.h - FR-Spec token lists on disk: the published freq_K.pt (torch.save of a Python list
 * of int ids, most frequent first) and a plain text format of our own.
 *
 * Text format: one decimal id per line, most frequent first; '#' starts a comment (to the end of
 * the line); blank lines are skipped. The writer puts a header comment and nothing else.
 * frvocab_load tells the two apart by content (a zip archive starts with "PK\3\4").
 * The loader returns the list as stored (duplicates and trailing extras included); the draft
 * takes its first K distinct ids (eagle_draft_set_vocab, frvocab_first_distinct).
 *
 * defines: frvocab_load, frvocab_save_pt, frvocab_save_txt, frvocab_first_distinct
 */
#ifndef FRSPEC_FRVOCAB_H
#define FRSPEC_FRVOCAB_H

#include <stdint.h>

#include "status.h"

/* Read a .pt or text list; *ids is malloc'ed. Errors (naming the file, and the entry or line):
 * unreadable file, malformed contents, an empty list, an id < 0 or > INT32_MAX. Ids are not
 * checked against a vocabulary here (eagle_draft_set_vocab does that). */
enum frs_status frvocab_load(const char *path, int32_t **ids, int *n);
/* torch.load(path) gives the Python list. */
enum frs_status frvocab_save_pt(const char *path, const int32_t *ids, int n);
/* comment: optional text for the header line(s) ('#' added to each line). */
enum frs_status frvocab_save_txt(const char *path, const int32_t *ids, int n, const char *comment);
/* Keep the first k distinct ids in place (k = 0: all distinct); returns how many were kept
 * (fewer than k when the list has fewer distinct ids; -1 when out of memory). Ids outside
 * [0, vocab) are skipped: check them first where that is an error. */
int frvocab_first_distinct(int32_t *ids, int n, int k, int vocab);

#endif
