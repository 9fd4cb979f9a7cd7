/* The slot file (see slot_file.h): one MAP_SHARED mapping of TG_SLOTS_MAX slots' worth of
 * address space, reserved once at open so that growing the file never moves the map (a
 * put on another thread may be writing into it); the file itself covers only the slots
 * given room, allocated with posix_fallocate (a store into a page of a sparse file on a
 * full disk would be SIGBUS, not an error).  The CRC-32C is the CPU's crc32 instruction
 * (SSE4.2) where there is one, else bytewise from a table. */
#include "store/slot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS_MODE 0600
#define SLOTS_INITIAL 1023 /* room for this many slots when a file is made */

struct tg_slots {
    int fd;
    uint8_t *map;   /* TG_SLOTS_MAX * TG_SLOTS_SIZE bytes reserved; the file's part usable */
    _Atomic int64_t top; /* the highest slot the file covers (puts read it unlocked) */
    char path[512]; /* for messages */
};

static uint32_t crc_table[256];
static bool crc_hw_ok;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    crc_hw_ok = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t tg_slots_crc32c_portable(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
/* The crc32 instruction computes CRC-32C (reflected, without the inversions). */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
                                                         size_t n)
{
    uint64_t c = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

uint32_t tg_slots_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
    if (crc_hw_ok)
        return crc_hw(crc, data, n);
#endif
    return tg_slots_crc32c_portable(crc, data, n);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The checksum of an entry: the slot number and the length bind it to its place. */
static uint32_t entry_crc(int64_t slot, uint32_t len, const uint8_t *payload)
{
    uint8_t pre[12];
    for (int i = 0; i < 8; i++)
        pre[i] = (uint8_t)((uint64_t)slot >> (8 * i));
    put_u32(pre + 8, len);
    return tg_slots_crc32c(tg_slots_crc32c(0, pre, sizeof pre), payload, len);
}

size_t tg_slots_parse(const uint8_t *bytes, int64_t slot, const uint8_t **payload)
{
    uint32_t len = get_u32(bytes);
    if (len == 0 || len > TG_SLOTS_PAYLOAD)
        return 0;
    if (get_u32(bytes + 4) != entry_crc(slot, len, bytes + TG_SLOTS_HEAD))
        return 0;
    *payload = bytes + TG_SLOTS_HEAD;
    return len;
}

/* The header slot's contents: the magic line, then zeros. */
static void header_bytes(uint8_t *h)
{
    memset(h, 0, TG_SLOTS_SIZE);
    memcpy(h, TG_SLOTS_MAGIC, sizeof TG_SLOTS_MAGIC - 1);
}

/* A new file gets its header; an existing one must have it.  Sets s->top from the size. */
static int check_header(tg_slots *s, char *err, size_t errlen)
{
    struct stat sb;
    if (fstat(s->fd, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
        return -1;
    }
    uint8_t want[TG_SLOTS_SIZE], got[TG_SLOTS_SIZE];
    header_bytes(want);
    if (sb.st_size == 0) {
        if (pwrite(s->fd, want, sizeof want, 0) != (ssize_t)sizeof want) {
            snprintf(err, errlen, "%s: cannot write its header: %s", s->path, strerror(errno));
            return -1;
        }
        atomic_store(&s->top, 0);
        return 0;
    }
    if (sb.st_size < TG_SLOTS_SIZE || pread(s->fd, got, sizeof got, 0) != (ssize_t)sizeof got ||
        memcmp(got, want, sizeof want) != 0) {
        snprintf(err, errlen, "%s is not a tollgate reservations slot file of this version "
                 "(it must start with \"%.*s\"); move it away only once its reservations are "
                 "accounted for", s->path, (int)sizeof TG_SLOTS_MAGIC - 2, TG_SLOTS_MAGIC);
        return -1;
    }
    int64_t slots = sb.st_size / TG_SLOTS_SIZE - 1;
    atomic_store(&s->top, slots < TG_SLOTS_MAX - 1 ? slots : TG_SLOTS_MAX - 1);
    return 0;
}

/* Opens and locks the file: 1 when absent and !create. */
static int open_locked(tg_slots *s, bool create, char *err, size_t errlen)
{
    s->fd = open(s->path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), SLOTS_MODE);
    if (s->fd < 0 && errno == ENOENT && !create)
        return 1;
    if (s->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", s->path, strerror(errno));
        return -1;
    }
    if (flock(s->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen, "the ledger's reservations file %s is held by another "
                     "running tollgate serve (one serve per SQLite ledger; replicas share "
                     "budgets through PostgreSQL)", s->path);
        else
            snprintf(err, errlen, "cannot lock %s: %s", s->path, strerror(errno));
        return -1;
    }
    return 0;
}

int tg_slots_open(const char *path, bool create, tg_slots **out, char *err, size_t errlen)
{
    *out = NULL;
    tg_slots *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->fd = -1;
    s->map = MAP_FAILED;
    if (strlen(path) >= sizeof s->path) {
        snprintf(err, errlen, "the reservations file's path is too long (%zu bytes at most)",
                 sizeof s->path - 1);
        free(s);
        return -1;
    }
    strcpy(s->path, path);
    int rc = open_locked(s, create, err, errlen);
    if (rc == 0 && check_header(s, err, errlen) != 0)
        rc = -1;
    if (rc == 0) {
        s->map = mmap(NULL, (size_t)(TG_SLOTS_MAX * TG_SLOTS_SIZE), PROT_READ | PROT_WRITE,
                      MAP_SHARED, s->fd, 0);
        if (s->map == MAP_FAILED) {
            snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
            rc = -1;
        }
    }
    if (rc != 0) {
        tg_slots_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tg_slots_close(tg_slots *s)
{
    if (!s)
        return;
    if (s->map != MAP_FAILED)
        munmap(s->map, (size_t)(TG_SLOTS_MAX * TG_SLOTS_SIZE));
    if (s->fd >= 0)
        close(s->fd); /* releases the flock */
    free(s);
}

int tg_slots_room(tg_slots *s, int64_t top, char *err, size_t errlen)
{
    int64_t have = atomic_load(&s->top);
    if (top <= have)
        return 0;
    if (top > TG_SLOTS_MAX - 1) {
        snprintf(err, errlen, "more than %lld reservations in flight: %s is full",
                 (long long)(TG_SLOTS_MAX - 1), s->path);
        return -1;
    }
    int64_t want = have * 2 + 1 > SLOTS_INITIAL ? have * 2 + 1 : SLOTS_INITIAL;
    want = want < top ? top : want;
    want = want > TG_SLOTS_MAX - 1 ? TG_SLOTS_MAX - 1 : want;
    int e = posix_fallocate(s->fd, 0, (off_t)((want + 1) * TG_SLOTS_SIZE));
    if (e != 0) {
        snprintf(err, errlen, "cannot grow %s to %lld slots: %s", s->path, (long long)want,
                 strerror(e));
        return -1;
    }
    atomic_store(&s->top, want); /* after the file covers it: a put may use it at once */
    return 0;
}

int64_t tg_slots_top(const tg_slots *s)
{
    return atomic_load_explicit(&s->top, memory_order_acquire);
}

int tg_slots_put(tg_slots *s, int64_t slot, const void *data, size_t len)
{
    if (slot < 1 || slot > tg_slots_top(s) || len == 0 || len > TG_SLOTS_PAYLOAD)
        return -1;
    uint8_t *p = s->map + slot * TG_SLOTS_SIZE;
    memcpy(p + TG_SLOTS_HEAD, data, len);
    uint8_t head[TG_SLOTS_HEAD];
    put_u32(head, (uint32_t)len);
    put_u32(head + 4, entry_crc(slot, (uint32_t)len, p + TG_SLOTS_HEAD));
    memcpy(p, head, sizeof head);
    return 0;
}

int tg_slots_each(tg_slots *s, int (*fn)(int64_t, const uint8_t *, size_t, void *), void *arg)
{
    int64_t top = tg_slots_top(s);
    for (int64_t i = 1; i <= top; i++) {
        uint8_t copy[TG_SLOTS_SIZE]; /* a stable copy: a put may be under way elsewhere */
        memcpy(copy, s->map + i * TG_SLOTS_SIZE, sizeof copy);
        const uint8_t *payload;
        size_t len = tg_slots_parse(copy, i, &payload);
        int rc = len ? fn(i, payload, len, arg) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

static int note_highest(int64_t slot, const uint8_t *data, size_t len, void *arg)
{
    (void)data, (void)len;
    *(int64_t *)arg = slot;
    return 0;
}

int64_t tg_slots_highest(tg_slots *s)
{
    int64_t top = 0;
    tg_slots_each(s, note_highest, &top);
    return top;
}

int tg_slots_clear(tg_slots *s, char *err, size_t errlen)
{
    if (ftruncate(s->fd, TG_SLOTS_SIZE) != 0) {
        snprintf(err, errlen, "cannot empty %s: %s", s->path, strerror(errno));
        return -1;
    }
    atomic_store(&s->top, 0);
    return 0;
}
