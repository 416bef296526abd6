/* tsv — strict reader of labeled text files: one `label<TAB>text` row per line, UTF-8.
 *
 * Rules: a leading UTF-8 BOM is skipped; lines end in LF or CRLF; the last line may lack its newline;
 * blank lines (empty, or only CR) are skipped; a line splits at its FIRST tab (the text may contain
 * more tabs). Anything else is an error naming the 1-based line (err->line) and what was expected:
 * no tab, empty label, empty text, invalid UTF-8 (err->offset = byte offset in the input), a NUL byte,
 * a CR that does not end the line (err->offset; e.g. a file with CR-only line ends).
 * More than TSV_MAX_ROWS rows, or a row longer than TSV_MAX_LINE bytes, is PT_ELIMIT naming the line.
 * Parsing is all or nothing: on error *out is left empty.
 */
#ifndef PT_TSV_H
#define PT_TSV_H

#include <stddef.h>

#include "err.h"

#define TSV_MAX_ROWS 1000000 /* rows per file */
#define TSV_MAX_LINE 65536   /* bytes per row, line end excluded: far beyond any model's max_seq_len */

typedef struct tsv_row {
    const char *label; /* NUL-terminated, inside the owning tsv_data */
    const char *text;  /* NUL-terminated, CR/LF stripped */
    long line;         /* 1-based line in the input, for error messages downstream */
} tsv_row;

typedef struct tsv_data {
    tsv_row *rows;
    int n_rows;
    char *buf; /* the copy the rows point into */
} tsv_data;

/* Parses len bytes (NUL bytes are an error, not a terminator). */
int tsv_parse(tsv_data *out, const char *buf, size_t len, pt_err *err);

/* Reads and parses a file; errors are prefixed with the path. */
int tsv_load(tsv_data *out, const char *path, pt_err *err);

void tsv_free(tsv_data *d);

/* Reads a whole file into a malloc'ed, NUL-terminated buffer (for formats built on these rules, such as
 * the verbalizer file). Errors name the path. */
int tsv_read_file(const char *path, char **buf, size_t *len, pt_err *err);

#endif
