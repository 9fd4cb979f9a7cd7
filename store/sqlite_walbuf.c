/* The WAL write-gathering VFS shim (see sqlite_walbuf.h).
 *
 * Each file opened through the shim is a wb_file followed by the default VFS's own file
 * object, to which every method forwards.  A WAL file also gets a buffer (allocated on its
 * first write, TG_WALBUF_SIZE): a write that starts where the previous write ended joins
 * the buffer; any other write flushes the buffer and goes straight through.  SQLite
 * writes a frame as a 24-byte header then its page, at consecutive offsets, and a commit
 * frame's header has a non-zero "database size" field (bytes 4-7, big-endian): when the
 * write that lands right after such a header is done, the buffer is flushed before xWrite
 * returns.  A header that SQLite rewrites later (walRewriteChecksums, after a page was
 * overwritten in the same transaction) never follows the previous write, so it goes
 * straight through and nothing of a commit is ever left behind in the buffer.
 *
 * The file's methods other than xWrite flush first, so reads, sizes, syncs and truncations
 * see the file as SQLite wrote it. */
#include "store/sqlite_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define WAL_FRAME_HDR 24 /* sqlite's WAL_FRAME_HDRSIZE */

typedef struct {
    sqlite3_file base;   /* our methods */
    sqlite3_file *real;  /* the default VFS's file, right after this struct */
    bool wal;            /* opened with SQLITE_OPEN_WAL: writes are gathered */
    unsigned char *buf;  /* NULL until the first write */
    size_t len;          /* bytes in buf, which starts at file offset `off` */
    sqlite3_int64 off;
    sqlite3_int64 end;   /* where the previous write ended; -1 before the first */
    sqlite3_int64 commit_at; /* the offset of a commit frame's page; -1 when none pending */
} wb_file;

/* The default VFS's file object follows ours at this offset (8-byte aligned). */
#define REAL_OFFSET ((sizeof(wb_file) + 7) & ~(size_t)7)

static sqlite3_vfs *base_vfs;
static sqlite3_vfs wb_vfs;
static int register_rc = SQLITE_ERROR;
static atomic_uint_least64_t n_writes, n_flushes;

void tg_walbuf_stats_get(tg_walbuf_stats *out)
{
    out->writes = atomic_load(&n_writes);
    out->flushes = atomic_load(&n_flushes);
}

/* Writes the buffer out; SQLITE_IOERR_WRITE (or the VFS's code) when that fails, with the
 * buffer dropped (SQLite then fails the transaction that wrote it). */
static int wb_flush(wb_file *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    size_t len = f->len;
    f->len = 0;
    atomic_fetch_add_explicit(&n_flushes, 1, memory_order_relaxed);
    return f->real->pMethods->xWrite(f->real, f->buf, (int)len, f->off);
}

static int wb_close(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    sqlite3_free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *p, void *out, int n, sqlite3_int64 off)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, n, off);
}

/* Whether this write is a frame header that marks a commit. */
static bool is_commit_header(const void *data, int n)
{
    const unsigned char *b = data;
    return n == WAL_FRAME_HDR && (b[4] | b[5] | b[6] | b[7]) != 0;
}

/* A write to a WAL file: gathered when it follows the previous one, else straight through;
 * the buffer is flushed once a commit frame's page is in it. */
static int wal_write(wb_file *f, const void *data, int n, sqlite3_int64 off)
{
    atomic_fetch_add_explicit(&n_writes, 1, memory_order_relaxed);
    if (!f->buf && !(f->buf = sqlite3_malloc(TG_WALBUF_SIZE)))
        return SQLITE_IOERR_NOMEM;
    bool follows = off == f->end && (f->len == 0 || off == f->off + (sqlite3_int64)f->len);
    int rc = SQLITE_OK;
    if (!follows || f->len + (size_t)n > TG_WALBUF_SIZE)
        rc = wb_flush(f);
    if (rc == SQLITE_OK && follows && (size_t)n <= TG_WALBUF_SIZE) {
        if (f->len == 0)
            f->off = off;
        memcpy(f->buf + f->len, data, (size_t)n);
        f->len += (size_t)n;
    } else if (rc == SQLITE_OK) {
        rc = f->real->pMethods->xWrite(f->real, data, n, off);
    }
    f->end = off + n;
    if (rc == SQLITE_OK && off == f->commit_at) { /* a commit frame's page: out now */
        f->commit_at = -1;
        rc = wb_flush(f);
    }
    if (rc == SQLITE_OK && is_commit_header(data, n))
        f->commit_at = off + WAL_FRAME_HDR;
    return rc;
}

static int wb_write(sqlite3_file *p, const void *data, int n, sqlite3_int64 off)
{
    wb_file *f = (wb_file *)p;
    if (f->wal)
        return wal_write(f, data, n, off);
    return f->real->pMethods->xWrite(f->real, data, n, off);
}

static int wb_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *p, int flags)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *p, int level)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xLock(f->real, level);
}

static int wb_unlock(sqlite3_file *p, int level)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xUnlock(f->real, level);
}

static int wb_check_reserved(sqlite3_file *p, int *out)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wb_file_control(sqlite3_file *p, int op, void *arg)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if (op == SQLITE_FCNTL_VFSNAME) { /* name ourselves, as the shims in SQLite's tree do */
        char *below = NULL;
        rc = f->real->pMethods->xFileControl(f->real, op, &below);
        *(char **)arg = sqlite3_mprintf("%s/%z", TG_WALBUF_VFS, below);
        return *(char **)arg ? SQLITE_OK : SQLITE_NOMEM;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wb_device_characteristics(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int wb_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **out)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, out);
}

static int wb_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *p, int delete_flag)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int wb_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **out)
{
    wb_file *f = (wb_file *)p;
    int rc = wb_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, n, out);
}

static int wb_unfetch(sqlite3_file *p, sqlite3_int64 off, void *page)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xUnfetch(f->real, off, page);
}

static const sqlite3_io_methods wb_methods = {
    3,           wb_close,         wb_read,           wb_write,         wb_truncate,
    wb_sync,     wb_file_size,     wb_lock,           wb_unlock,        wb_check_reserved,
    wb_file_control, wb_sector_size, wb_device_characteristics, wb_shm_map, wb_shm_lock,
    wb_shm_barrier, wb_shm_unmap,  wb_fetch,          wb_unfetch,
};

/* Our methods cut to versions 1, 2 and 3 (filled at registration): a file gets the version
 * of the default VFS's own file, so SQLite never calls a method that file lacks. */
static sqlite3_io_methods methods_v[3];

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out)
{
    (void)vfs;
    wb_file *f = (wb_file *)p;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)((char *)p + REAL_OFFSET);
    f->end = -1;
    f->commit_at = -1;
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out);
    if (rc != SQLITE_OK || !f->real->pMethods) {
        p->pMethods = NULL; /* SQLite calls no method of a file that failed to open */
        return rc;
    }
    int v = f->real->pMethods->iVersion;
    p->pMethods = &methods_v[(v < 1 ? 1 : v > 3 ? 3 : v) - 1];
    return SQLITE_OK;
}

/* The VFS's other methods forward to the default VFS, with it as their VFS. */
static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return base_vfs->xDlOpen(base_vfs, name);
}

static void wb_dl_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    base_vfs->xDlError(base_vfs, n, out);
}

static void (*wb_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return base_vfs->xDlSym(base_vfs, h, sym);
}

static void wb_dl_close(sqlite3_vfs *v, void *h)
{
    (void)v;
    base_vfs->xDlClose(base_vfs, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xRandomness(base_vfs, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return base_vfs->xSleep(base_vfs, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return base_vfs->xCurrentTime(base_vfs, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    if (base_vfs->iVersion >= 2 && base_vfs->xCurrentTimeInt64)
        return base_vfs->xCurrentTimeInt64(base_vfs, out);
    double now;
    int rc = base_vfs->xCurrentTime(base_vfs, &now);
    *out = (sqlite3_int64)(now * 86400000.0);
    return rc;
}

static void do_register(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (!base_vfs)
        return;
    for (int i = 0; i < 3; i++) {
        methods_v[i] = wb_methods;
        methods_v[i].iVersion = i + 1;
    }
    wb_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)(REAL_OFFSET + (size_t)base_vfs->szOsFile),
        .mxPathname = base_vfs->mxPathname,
        .zName = TG_WALBUF_VFS,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dl_open,
        .xDlError = wb_dl_error,
        .xDlSym = wb_dl_sym,
        .xDlClose = wb_dl_close,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time64,
    };
    register_rc = sqlite3_vfs_register(&wb_vfs, 0);
}

int tg_walbuf_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, do_register);
    return register_rc;
}
