/* A SQLite VFS shim that gathers a transaction's WAL writes into one system call.
 *
 * SQLite appends a commit to the write-ahead log as frames, and each frame as two writes:
 * its 24-byte header, then the page.  On this kind of machine a pwrite costs about 2 us,
 * so a reservation's commit (one or two frames) spent more in system calls than in SQLite.
 * The shim ("tg-walbuf") wraps the default VFS and, for WAL files only, holds contiguous
 * writes in a buffer of TG_WALBUF_SIZE bytes per file, written with a single pwrite:
 *
 *   - after the page of a commit frame (the header's "database size after commit" field is
 *     not zero), before xWrite returns: a commit is in the operating system when SQLite
 *     considers it done, exactly as without the shim, so it survives kill -9 and other
 *     processes that read the WAL see it;
 *   - before a write that does not follow the buffered bytes, or that would overflow it;
 *   - before every other operation on the file (read, size, sync, truncate, lock, file
 *     control, close), so SQLite never sees a file that differs from what it wrote.
 *
 * A failed gathered write is returned as SQLITE_IOERR_WRITE from the call that flushed,
 * which fails the transaction as a failed write would.  Other files (the database, its
 * journals) pass straight through. */
#ifndef TG_SQLITE_WALBUF_H
#define TG_SQLITE_WALBUF_H
#include <stdint.h>

#define TG_WALBUF_VFS "tg-walbuf"
/* Bytes gathered per WAL file before a forced write.  Below 128 KiB: the unix VFS writes at
 * most 0x1ffff bytes per call (seekAndWriteFd masks the length) and reports a longer write
 * as a full disk. */
#define TG_WALBUF_SIZE (96 * 1024)

/* Registers the shim over the current default VFS (not as the default), once per process;
 * later calls return the first result.  Returns SQLITE_OK or a SQLite error code.  Open a
 * connection with sqlite3_open_v2(..., TG_WALBUF_VFS) to use it. */
int tg_walbuf_register(void);

/* Counters since start, for tests and benchmarks: WAL writes SQLite asked for, and the
 * pwrite calls the shim made for them. */
typedef struct {
    uint64_t writes;
    uint64_t flushes;
} tg_walbuf_stats;

void tg_walbuf_stats_get(tg_walbuf_stats *out);

#endif
