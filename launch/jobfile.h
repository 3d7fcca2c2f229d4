/* jobfile.h - batch-job files of `frspec generate --prompts IN.jsonl --out OUT.jsonl [--resume]`:
 * reading the prompts (exact ids, line numbers, bad lines as error records), the results file
 * (torn-line repair, the set of finished ids, whole-line appends) and the progress line.
 *
 * Nothing here assumes one request at a time: records are handed out in input order by
 * jobfile_next and stay valid until jobfile_close, results may be written in any order, and
 * progress is counted per finished record. Rank 0 alone uses it.
 *
 * Ids are the resume key. A record's id is the string value of the first of "id", "question_id",
 * "task_id" present, or the JSON text of a number exactly as written ("1.20" stays "1.20"), or,
 * when none of these keys is present, the line number ("7"). Two records with the same id are
 * refused by jobfile_open_input, naming both lines, before any work is done.
 *
 * defines: struct jobfile, struct jobfile_record, jobfile_open_input, jobfile_open_input_mem,
 *          jobfile_next, jobfile_open_output, jobfile_is_done, jobfile_write_result,
 *          jobfile_write_error, jobfile_count, jobfile_progress, jobfile_close
 */
#ifndef FRSPEC_JOBFILE_H
#define FRSPEC_JOBFILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "status.h"

struct jobfile_record {
    char *id;     /* exact id (see above); never NULL for a good record, may be NULL for a bad line */
    int line_no;  /* 1-based line of the input */
    char *prompt; /* the prompt text; NULL for a bad line */
    char *error;  /* bad line: why (names the file and line); NULL for a good record */
};

struct jobfile_set; /* string hash set (ids), private */

struct jobfile {
    const char *in_name;            /* for messages */
    struct jobfile_record *recs;
    int n_recs, next;
    dev_t in_dev;                   /* the input's device and inode (--out must differ) */
    ino_t in_ino;
    int have_in_stat;
    int out_fd;                     /* -1: results go to stdout (fd 1, not fsynced) */
    int defer_sync;                 /* 1: jobfile_write_result leaves the fsync to jobfile_sync */
    int unsynced;                   /* lines written since the last fsync */
    const char *out_name;
    struct jobfile_set *done;       /* ids with a result line in --out (--resume) */
    /* progress */
    int n_skipped;                  /* records already done in --out (not run again) */
    int n_done, n_failed;           /* finished in this run (n_failed counts in n_done) */
    long long n_tokens;
    double t_start, t_last_print;
    double progress_interval_s;     /* minimum seconds between two progress lines */
};

/* Read the whole input ("-" = stdin) into records. Blank lines are skipped; a line that is not a
 * JSON object, or has no string prompt ("prompt", or "question", "text", "turns"[0]), or an id
 * that is neither a string nor a number, becomes a bad record (error set) and does not stop the
 * batch. A duplicate id is an error (FRS_ERR_FORMAT naming both line numbers). */
enum frs_status jobfile_open_input(struct jobfile *jf, const char *path);
/* The same from a buffer (the fuzz entry point); name is used in messages. */
enum frs_status jobfile_open_input_mem(struct jobfile *jf, const char *name, const char *buf, size_t len);
/* The next record not already done (*rec = NULL at the end): records done in --out are skipped. */
enum frs_status jobfile_next(struct jobfile *jf, const struct jobfile_record **rec);
/* Number of records (good and bad). */
int jobfile_count(const struct jobfile *jf);

/* Open the results file for appending (path NULL: stdout). Refuses the input file itself (same
 * device and inode, links included). A trailing partial line (a crash mid-write) is cut off.
 * With resume: the ids of the result lines become the done set; error lines are not results:
 * the file is rewritten without them (temporary file beside it, fsync, rename) so that the
 * retried prompts' new lines replace them and the file keeps one line per id. */
enum frs_status jobfile_open_output(struct jobfile *jf, const char *path, int resume);
int jobfile_is_done(const struct jobfile *jf, const char *id);
/* Append one line (a newline is added) with a single write(2) on an O_APPEND descriptor, then
 * fsync (with defer_sync set: at the next jobfile_sync or jobfile_close instead, so that the
 * batched engine's results of one step share one fsync). A short write is rolled back (ftruncate to the previous size) and reported, so no
 * partial line is left behind while the process lives; a crash mid-write leaves a torn last line,
 * which the next jobfile_open_output cuts. */
enum frs_status jobfile_write_result(struct jobfile *jf, const char *line);
/* fsync the lines written since the last one (a regular results file; nothing otherwise). */
enum frs_status jobfile_sync(struct jobfile *jf);
/* {"id": ..., "error": msg, "line": N} for a record (id omitted when the line had none). */
enum frs_status jobfile_write_error(struct jobfile *jf, const struct jobfile_record *rec, const char *msg);

/* Count a finished record (failed: it got an error line) and its generated tokens, then print
 * the progress line to f when progress_interval_s has passed since the last one, or when force:
 * "frspec: progress D/T prompts (F failed), X tokens/s, ETA ...". */
void jobfile_progress(struct jobfile *jf, int finished, int failed, int n_tokens, int force, FILE *f);

void jobfile_close(struct jobfile *jf);

#endif
