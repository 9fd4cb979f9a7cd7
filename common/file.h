/* tg_file: reading a whole (bounded) file into memory, for configuration-like inputs
 * (catalog and policy files).  Not for the request path: it blocks on the disk. */
#ifndef TG_FILE_H
#define TG_FILE_H
#include <stddef.h>

/* Reads `path` whole into a new NUL-terminated buffer (*buf, freed by the caller with
 * free(); *len excludes the NUL).  A file larger than `max` bytes is refused.  Returns 0,
 * or -1 with one plain line in err ("PATH: cannot read: No such file or directory", "PATH: larger than
 * the N-byte limit"). */
__attribute__((warn_unused_result)) int tg_file_read(const char *path, size_t max, char **buf,
                                                    size_t *len, char *err, size_t errlen);

#endif
