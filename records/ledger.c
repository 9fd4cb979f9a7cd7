/* The ledger writer (see ledger.h): two queues (urgent, lazy), each two parallel growable
 * arrays (records, notices), under one mutex, drained by one thread.
 *
 * The writer swaps the arrays out under the lock (submitters never wait for the disk),
 * writes them in transactions of at most TG_LEDGER_BATCH_MAX (urgent first, the lazy ones
 * only when due), then hands each notice to its waiter.  A waiter's eventfd is written only when its list goes from empty to not
 * empty, and tg_ledger_collect reads the eventfd *before* taking the list, so no notice
 * is ever left behind without a readable fd.  `seq_in` / `seq_out` count submitted and
 * committed rows per queue (each is FIFO) for tg_ledger_sync.
 *
 * Two store handles.  `rstore` has claimed the ledger's reservations file
 * (tg_store_claim_reservations): when the store keeps one (`direct`), a reservation is put
 * into its slot there by the submitting thread itself (submit_direct: durable on return,
 * no queue, no notice; puts to different slots run in parallel, and the slot bitmap under
 * the lock makes room in the file as it grows), and rstore otherwise writes the urgent
 * rows (rows waited for).  `store` writes the lazy rows (settlements, records) into the
 * ledger.  `writing_u` marks a transaction under way on rstore (by the
 * writer, or by a submitter committing inline with its own spare arrays), `writing_l` one
 * on store (the writer's): one at a time per handle, so a handle is never used by two
 * threads at once, and an inline commit of reservations never waits for a batch of
 * settlements.  When the store keeps no reservations file (in memory), rstore is store and
 * the two marks exclude each other.  Order: the writer takes the lazy rows together with
 * the urgent ones queued before them, and writes those first; it never starts while an
 * inline commit is under way (that commit may hold the reservations of the lazy rows). */
#include "records/ledger.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_INITIAL 1024
#define WAITER_INITIAL 64
#define OOM_PAUSE_MS 10
#define SLOT_WORDS_INITIAL 16 /* 1,024 reservation slots, then doubling */

typedef struct {
    tg_ledger_waiter *w; /* NULL: no notice (or already sent) */
    uint64_t cookie;
} note;

struct tg_ledger_waiter {
    int fd;
    _Atomic bool inline_ok; /* set by its loop (tg_ledger_waiter_inline) */
    _Atomic bool deferred;  /* its urgent rows wait for tg_ledger_kick */
    pthread_mutex_t mu;
    tg_ledger_done *done;
    size_t len, cap;
};

/* A FIFO of rows with their notices (two parallel arrays). */
typedef struct {
    tg_record *recs;
    note *notes;
    size_t len, cap;
} queue;

enum { Q_URGENT, Q_LAZY };

struct tg_ledger {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* wakes the writer (CLOCK_MONOTONIC) */
    pthread_cond_t cv_done; /* wakes tg_ledger_sync */
    queue q[2];             /* Q_URGENT: reservations and rows waited for; Q_LAZY: the rest */
    queue spare;            /* the inline committer's swap arrays (see commit_inline) */
    int64_t lazy_since_ns;  /* when the lazy queue got its oldest row */
    bool idle, stopping, flush;
    bool writing_u, writing_l; /* a transaction under way on rstore, on store */
    uint64_t seq_in[2], seq_out[2]; /* rows queued and committed, per queue */
    uint64_t *slots_used;  /* bit i: slot slot_base + i holds a reservation not yet ended */
    size_t slot_words, slot_lo;     /* words in the bitmap; below slot_lo all are full */
    int64_t slot_base;              /* above every slot the store had when we started */
    pthread_t thread;
    tg_store *store;  /* lazy rows */
    tg_store *rstore; /* urgent rows (reservations); == store when there is no file */
    bool direct;      /* rstore holds a reservations file: reservations put at once */
    atomic_uint_least64_t written;
};

/* Whether the urgent rows' handle is in use (lock held). */
static bool urgent_busy(const tg_ledger *lg)
{
    return lg->writing_u || (lg->rstore == lg->store && lg->writing_l);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- waiters */

int tg_ledger_waiter_new(tg_ledger_waiter **out)
{
    *out = NULL;
    tg_ledger_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return -1;
    }
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) {
        free(w);
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    *out = w;
    return 0;
}

int tg_ledger_waiter_fd(const tg_ledger_waiter *w)
{
    return w->fd;
}

void tg_ledger_waiter_inline(tg_ledger_waiter *w, bool on)
{
    atomic_store_explicit(&w->inline_ok, on, memory_order_relaxed);
}

void tg_ledger_waiter_defer(tg_ledger_waiter *w, bool on)
{
    atomic_store_explicit(&w->deferred, on, memory_order_relaxed);
}

static void waiter_signal(tg_ledger_waiter *w)
{
    uint64_t one = 1;
    while (write(w->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* Appends a notice; waits for memory rather than lose it.  `quiet`: the waiter's own loop
 * is pushing and takes the whole list right after (tg_ledger_kick), so the eventfd is not
 * written.  Safe with the writer pushing meanwhile: a notice it adds to a non-empty list
 * is taken with ours; to an empty one (after ours were taken) it signals. */
static void waiter_push(tg_ledger_waiter *w, uint64_t cookie, bool ok, bool quiet)
{
    pthread_mutex_lock(&w->mu);
    while (w->len == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : WAITER_INITIAL;
        tg_ledger_done *nd = realloc(w->done, cap * sizeof *nd);
        if (nd) {
            w->done = nd, w->cap = cap;
            break;
        }
        pthread_mutex_unlock(&w->mu);
        sleep_ms(OOM_PAUSE_MS);
        pthread_mutex_lock(&w->mu);
    }
    bool was_empty = w->len == 0;
    w->done[w->len++] = (tg_ledger_done){cookie, ok};
    pthread_mutex_unlock(&w->mu);
    if (was_empty && !quiet)
        waiter_signal(w);
}

/* Takes up to `max` notices from the list; signals the fd again when more remain. */
static size_t waiter_take(tg_ledger_waiter *w, tg_ledger_done *out, size_t max)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->len < max ? w->len : max;
    if (n > 0) { /* w->done is NULL until the first notice */
        memcpy(out, w->done, n * sizeof *out);
        memmove(w->done, w->done + n, (w->len - n) * sizeof *w->done);
        w->len -= n;
    }
    bool more = w->len > 0;
    pthread_mutex_unlock(&w->mu);
    if (more)
        waiter_signal(w);
    return n;
}

size_t tg_ledger_collect(tg_ledger_waiter *w, tg_ledger_done *out, size_t max)
{
    uint64_t v;
    while (read(w->fd, &v, sizeof v) < 0 && errno == EINTR) /* EAGAIN: nothing pending */
        ;
    return waiter_take(w, out, max);
}

void tg_ledger_waiter_free(tg_ledger_waiter *w)
{
    if (!w)
        return;
    close(w->fd);
    pthread_mutex_destroy(&w->mu);
    free(w->done);
    free(w);
}

/* ---------------------------------------------------------------- queues */

/* Makes room for one more row in `q` (ledger lock held); waits for memory. */
static void queue_reserve(tg_ledger *lg, queue *q)
{
    while (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : QUEUE_INITIAL;
        tg_record *nr = realloc(q->recs, cap * sizeof *nr);
        if (nr)
            q->recs = nr;
        note *nn = nr ? realloc(q->notes, cap * sizeof *nn) : NULL;
        if (nn) {
            q->notes = nn, q->cap = cap;
            return;
        }
        pthread_mutex_unlock(&lg->mu); /* the writer swaps the queue out: room soon */
        sleep_ms(OOM_PAUSE_MS);
        pthread_mutex_lock(&lg->mu);
    }
}

/* Takes q's rows into *out (whose old arrays become q's, empty). */
static void queue_take(queue *q, queue *out)
{
    queue t = *q;
    *q = (queue){out->recs, out->notes, 0, out->cap};
    *out = t;
}

static void queue_free(queue *q)
{
    free(q->recs);
    free(q->notes);
    *q = (queue){0};
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------- slots */

/* A reservation slot for `rec` (lock held): the lowest free one, so the reservations in
 * flight share as few pages as they can.  Returns false when there is none: out of
 * memory (the store then makes a new row, never reused: slot 0), or a reservations file
 * that cannot grow (rec->slot stays 0: the reservation cannot be written). */
static bool slot_assign(tg_ledger *lg, tg_record *rec)
{
    if (rec->state != TG_RECORD_RESERVED || rec->slot > 0)
        return true;
    size_t i = lg->slot_lo;
    while (i < lg->slot_words && lg->slots_used[i] == UINT64_MAX)
        i++;
    lg->slot_lo = i;
    if (i == lg->slot_words) {
        size_t words = lg->slot_words ? lg->slot_words * 2 : SLOT_WORDS_INITIAL;
        if (lg->direct &&
            tg_store_reservation_room(lg->rstore, lg->slot_base + (int64_t)words * 64) !=
                TG_STORE_OK) {
            fprintf(stderr, "tollgate: no reservation slot: %s\n", tg_store_errmsg(lg->rstore));
            return false;
        }
        uint64_t *nw = realloc(lg->slots_used, words * sizeof *nw);
        if (!nw)
            return false;
        memset(nw + lg->slot_words, 0, (words - lg->slot_words) * sizeof *nw);
        lg->slots_used = nw, lg->slot_words = words;
    }
    int bit = __builtin_ctzll(~lg->slots_used[i]);
    lg->slots_used[i] |= UINT64_C(1) << bit;
    rec->slot = lg->slot_base + (int64_t)(i * 64 + (size_t)bit);
    return true;
}

/* Frees the slots that the committed rows recs[0..n) end (lock held): a settlement's
 * slot may take a new reservation only once the settlement is on disk, or a crash in
 * between would lose the reservation it overwrote. */
static void slots_free(tg_ledger *lg, const tg_record *recs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int64_t at = recs[k].slot - lg->slot_base;
        if (recs[k].state == TG_RECORD_RESERVED || at < 0 ||
            (uint64_t)at >= (uint64_t)lg->slot_words * 64)
            continue;
        size_t i = (size_t)at / 64;
        lg->slots_used[i] &= ~(UINT64_C(1) << (at % 64));
        if (i < lg->slot_lo)
            lg->slot_lo = i;
    }
}

/* ---------------------------------------------------------------- submit */

static void notify(note *notes, size_t n, bool ok, const tg_ledger_waiter *quiet);

/* Puts rows an inline commit could not write back at the head of the urgent queue (lock
 * held), ahead of those queued meanwhile, for the writer to retry. */
static void requeue(tg_ledger *lg, queue *b)
{
    queue *u = &lg->q[Q_URGENT];
    while (b->cap < b->len + u->len) {
        size_t ncap = b->cap * 2;
        tg_record *nr = realloc(b->recs, ncap * sizeof *nr);
        if (nr)
            b->recs = nr;
        note *nn = nr ? realloc(b->notes, ncap * sizeof *nn) : NULL;
        if (nn) {
            b->notes = nn, b->cap = ncap;
            continue;
        }
        pthread_mutex_unlock(&lg->mu);
        sleep_ms(OOM_PAUSE_MS);
        pthread_mutex_lock(&lg->mu);
    }
    if (u->len) {
        memcpy(b->recs + b->len, u->recs, u->len * sizeof *b->recs);
        memcpy(b->notes + b->len, u->notes, u->len * sizeof *b->notes);
    }
    b->len += u->len;
    queue_free(&lg->spare);
    lg->spare = (queue){u->recs, u->notes, 0, u->cap};
    *u = *b;
    *b = (queue){0};
}

/* Commits the urgent queue (the caller's row last) on the calling thread in one
 * transaction; lock held on entry and on return, released while writing.  The queue's
 * arrays are swapped with the inline spares, so submitters go on queueing meanwhile.
 * Returns true when written: the other rows' waiters get their notices, the caller's row
 * none (tg_ledger_submit's answer says it).  A failed write is not retried here (that
 * would block the caller's loop): every waiter, the caller's too, gets ok = false at once,
 * as from the writer, and the rows go back to the queue. */
static bool commit_inline(tg_ledger *lg, const tg_ledger_waiter *quiet, bool last_is_caller)
{
    queue b = {0};
    queue_take(&lg->q[Q_URGENT], &lg->spare);
    b = lg->spare, lg->spare = (queue){0};
    lg->writing_u = true;
    pthread_mutex_unlock(&lg->mu);
    bool ok = tg_store_records_insert(lg->rstore, b.recs, b.len) == TG_STORE_OK;
    if (ok)
        atomic_fetch_add(&lg->written, b.len);
    else
        fprintf(stderr, "tollgate: writing %zu ledger rows failed (%s); retrying\n", b.len,
                tg_store_errmsg(lg->rstore));
    if (ok && last_is_caller)
        b.notes[b.len - 1].w = NULL; /* the caller's: answered by the return value */
    notify(b.notes, b.len, ok, ok ? quiet : NULL);
    pthread_mutex_lock(&lg->mu);
    lg->writing_u = false;
    if (ok) {
        lg->seq_out[Q_URGENT] += b.len;
        slots_free(lg, b.recs, b.len);
        b.len = 0;
        lg->spare = b;
    } else {
        requeue(lg, &b);
    }
    pthread_cond_broadcast(&lg->cv_done);
    if (lg->q[Q_URGENT].len || lg->flush || lg->stopping)
        pthread_cond_signal(&lg->cv); /* queued meanwhile: the writer takes them */
    return ok;
}

/* A reservation put straight into its slot of the reservations file on the calling thread
 * (tg_store_reservation_put): durable when it returns, so no queue, no writer, no notice.
 * If it fails, the notice (ok = false) is on the waiter's list at once and there is no
 * retry: the caller refuses the request, and its release frees the slot. */
static bool submit_direct(tg_ledger *lg, tg_record *rec, tg_ledger_waiter *w,
                          uint64_t cookie)
{
    pthread_mutex_lock(&lg->mu);
    bool have = slot_assign(lg, rec);
    pthread_mutex_unlock(&lg->mu);
    if (have && tg_store_reservation_put(lg->rstore, rec) == TG_STORE_OK) {
        atomic_fetch_add(&lg->written, 1);
        return true;
    }
    fprintf(stderr, "tollgate: a reservation could not be written (request %s, slot %lld)\n",
            rec->id, (long long)rec->slot);
    if (w)
        waiter_push(w, cookie, false, false);
    return false;
}

bool tg_ledger_submit(tg_ledger *lg, tg_record *rec, tg_ledger_waiter *w, uint64_t cookie)
{
    if (lg->direct && rec->state == TG_RECORD_RESERVED)
        return submit_direct(lg, rec, w, cookie);
    int which = w || rec->state == TG_RECORD_RESERVED ? Q_URGENT : Q_LAZY;
    queue *q = &lg->q[which];
    bool durable = false;
    pthread_mutex_lock(&lg->mu);
    queue_reserve(lg, q);
    if (which == Q_LAZY && q->len == 0)
        lg->lazy_since_ns = mono_ns();
    slot_assign(lg, rec);
    q->recs[q->len] = *rec;
    q->notes[q->len++] = (note){w, cookie};
    lg->seq_in[which]++;
    if (which == Q_URGENT && w && !urgent_busy(lg) && !lg->stopping &&
        q->len <= TG_LEDGER_BATCH_MAX &&
        atomic_load_explicit(&w->inline_ok, memory_order_relaxed))
        durable = commit_inline(lg, NULL, true);
    else if (which == Q_URGENT && w && atomic_load_explicit(&w->deferred, memory_order_relaxed))
        ; /* the loop calls tg_ledger_kick when its round ends */
    else if ((which == Q_URGENT && lg->idle) || (which == Q_LAZY && q->len == TG_LEDGER_WAKE_AT))
        pthread_cond_signal(&lg->cv);
    pthread_mutex_unlock(&lg->mu);
    return durable;
}

size_t tg_ledger_kick(tg_ledger *lg, tg_ledger_waiter *w, tg_ledger_done *out, size_t max)
{
    pthread_mutex_lock(&lg->mu);
    bool mine = false;
    if (lg->q[Q_URGENT].len == 0) {
        pthread_mutex_unlock(&lg->mu);
        return 0;
    }
    if (!urgent_busy(lg) && !lg->stopping && lg->q[Q_URGENT].len <= TG_LEDGER_BATCH_MAX)
        mine = commit_inline(lg, w, false);
    else if (lg->idle)
        pthread_cond_signal(&lg->cv);
    pthread_mutex_unlock(&lg->mu);
    /* quiet notices: on the list without an fd signal, so take them now (a failed commit
     * signalled them, and the writer retries the rows) */
    return mine ? waiter_take(w, out, max) : 0;
}

void tg_ledger_sync(tg_ledger *lg)
{
    pthread_mutex_lock(&lg->mu);
    uint64_t urgent = lg->seq_in[Q_URGENT], lazy = lg->seq_in[Q_LAZY];
    lg->flush = true;
    pthread_cond_signal(&lg->cv);
    while (lg->seq_out[Q_URGENT] < urgent || lg->seq_out[Q_LAZY] < lazy)
        pthread_cond_wait(&lg->cv_done, &lg->mu);
    pthread_mutex_unlock(&lg->mu);
}

uint64_t tg_ledger_written(const tg_ledger *lg)
{
    return atomic_load(&((tg_ledger *)lg)->written);
}

/* ---------------------------------------------------------------- the writer */

/* Hands each note to its waiter; those of `quiet` (may be NULL) without an fd signal. */
static void notify(note *notes, size_t n, bool ok, const tg_ledger_waiter *quiet)
{
    for (size_t i = 0; i < n; i++)
        if (notes[i].w) {
            waiter_push(notes[i].w, notes[i].cookie, ok, notes[i].w == quiet);
            notes[i].w = NULL;
        }
}

/* Writes recs[0..n) through `st` in transactions of at most TG_LEDGER_BATCH_MAX, retrying
 * failures. */
static void write_rows(tg_ledger *lg, tg_store *st, const tg_record *recs, note *notes,
                       size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < TG_LEDGER_BATCH_MAX ? n - done : TG_LEDGER_BATCH_MAX;
        if (tg_store_records_insert(st, recs + done, k) == TG_STORE_OK) {
            atomic_fetch_add(&lg->written, k);
            notify(notes + done, k, true, NULL);
            done += k;
            continue;
        }
        fprintf(stderr, "tollgate: writing %zu ledger rows failed (%s); retrying\n", k,
                tg_store_errmsg(st));
        notify(notes + done, k, false, NULL);
        sleep_ms(TG_LEDGER_RETRY_MS);
    }
}

/* Whether the lazy queue is to be written now (lock held). */
static bool lazy_due(const tg_ledger *lg)
{
    const queue *l = &lg->q[Q_LAZY];
    if (l->len == 0)
        return false;
    return lg->stopping || lg->flush || l->len >= TG_LEDGER_WAKE_AT ||
           mono_ns() - lg->lazy_since_ns >= (int64_t)TG_LEDGER_TICK_MS * 1000000;
}

/* Waits until there is something to write and no inline commit is under way. */
static void wait_for_work(tg_ledger *lg)
{
    while (lg->writing_u || (lg->q[Q_URGENT].len == 0 && !lazy_due(lg) &&
                           !(lg->stopping && lg->q[Q_LAZY].len == 0) &&
                           !(lg->flush && lg->q[Q_LAZY].len == 0))) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TG_LEDGER_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        lg->idle = true;
        pthread_cond_timedwait(&lg->cv, &lg->mu, &ts);
        lg->idle = false;
    }
}

/* Writes the taken rows b of queue `which` through `st` with the lock released, then
 * counts them committed, frees their slots and clears *writing.  Lock held on entry and
 * return. */
static void write_taken(tg_ledger *lg, tg_store *st, queue *b, int which, bool *writing)
{
    pthread_mutex_unlock(&lg->mu);
    write_rows(lg, st, b->recs, b->notes, b->len);
    pthread_mutex_lock(&lg->mu);
    *writing = false;
    lg->seq_out[which] += b->len;
    slots_free(lg, b->recs, b->len);
    b->len = 0;
    pthread_cond_broadcast(&lg->cv_done);
}

/* One pass: the urgent rows and, when due, the lazy ones, taken together under the lock
 * and written urgent first (so a settlement never reaches the disk before its
 * reservation), each set in its own transactions; inline commits may run again once the
 * urgent rows are written.  Lock held on entry and return. */
static void write_pass(tg_ledger *lg, queue *bu, queue *bl)
{
    bool lazy = lazy_due(lg) || lg->flush || lg->stopping;
    queue_take(&lg->q[Q_URGENT], bu);
    if (lazy) {
        queue_take(&lg->q[Q_LAZY], bl);
        lg->flush = false;
    }
    lg->writing_u = true;
    lg->writing_l = lazy;
    write_taken(lg, lg->rstore, bu, Q_URGENT, &lg->writing_u);
    if (lazy)
        write_taken(lg, lg->store, bl, Q_LAZY, &lg->writing_l);
}

static void *writer_main(void *arg)
{
    tg_ledger *lg = arg;
    queue bu = {0}, bl = {0}; /* the writer's swap arrays */
    pthread_mutex_lock(&lg->mu);
    for (;;) {
        wait_for_work(lg);
        if (lg->stopping && lg->q[Q_URGENT].len == 0 && lg->q[Q_LAZY].len == 0)
            break;
        write_pass(lg, &bu, &bl);
    }
    pthread_mutex_unlock(&lg->mu);
    queue_free(&bu);
    queue_free(&bl);
    return NULL;
}

static void close_handles(tg_ledger *lg)
{
    if (lg->rstore != lg->store)
        tg_store_close(lg->rstore);
    tg_store_close(lg->store);
}

/* Opens store and rstore (the handle that claims the reservations file; store itself when
 * the store keeps none), and the first free slot.  Returns 0, or -1 with err set. */
static int open_handles(tg_ledger *lg, const char *url, char *err, size_t errlen)
{
    if (tg_store_open(url, &lg->store, err, errlen) != TG_STORE_OK)
        return -1;
    if (tg_store_open(url, &lg->rstore, err, errlen) != TG_STORE_OK) {
        tg_store_close(lg->store);
        return -1;
    }
    int rc = tg_store_claim_reservations(lg->rstore);
    if (rc == TG_STORE_INVALID) { /* no reservations file: one handle for both */
        tg_store_close(lg->rstore);
        lg->rstore = lg->store;
    }
    int64_t top = 0;
    if ((rc != TG_STORE_OK && rc != TG_STORE_INVALID) ||
        tg_store_reservation_slots(lg->rstore, &top) != TG_STORE_OK) {
        snprintf(err, errlen, "%s", tg_store_errmsg(lg->rstore));
        close_handles(lg);
        return -1;
    }
    lg->slot_base = top + 1;
    int room = tg_store_reservation_room(lg->rstore, top + SLOT_WORDS_INITIAL * 64);
    lg->direct = room == TG_STORE_OK;
    if (room == TG_STORE_ERROR) {
        snprintf(err, errlen, "%s", tg_store_errmsg(lg->rstore));
        close_handles(lg);
        return -1;
    }
    return 0;
}

int tg_ledger_start(const char *url, tg_ledger **out, char *err, size_t errlen)
{
    *out = NULL;
    tg_ledger *lg = calloc(1, sizeof *lg);
    if (!lg) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (open_handles(lg, url, err, errlen) != 0) {
        free(lg);
        return -1;
    }
    pthread_mutex_init(&lg->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lg->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&lg->cv_done, NULL);
    if (pthread_create(&lg->thread, NULL, writer_main, lg) != 0) {
        snprintf(err, errlen, "cannot start the ledger writer thread");
        close_handles(lg);
        free(lg);
        return -1;
    }
    *out = lg;
    return 0;
}

int tg_ledger_record_get(tg_ledger *lg, const char *id, int attempt, tg_record *out)
{
    pthread_mutex_lock(&lg->mu);
    while (urgent_busy(lg))
        pthread_cond_wait(&lg->cv_done, &lg->mu);
    lg->writing_u = true; /* the handle is ours; no inline commit meanwhile */
    pthread_mutex_unlock(&lg->mu);
    int rc = tg_store_record_get(lg->rstore, id, attempt, out);
    pthread_mutex_lock(&lg->mu);
    lg->writing_u = false;
    pthread_cond_broadcast(&lg->cv_done);
    pthread_cond_signal(&lg->cv); /* the writer may have waited for the handle */
    pthread_mutex_unlock(&lg->mu);
    return rc;
}

void tg_ledger_stop(tg_ledger *lg)
{
    if (!lg)
        return;
    pthread_mutex_lock(&lg->mu);
    lg->stopping = true;
    pthread_cond_signal(&lg->cv);
    pthread_mutex_unlock(&lg->mu);
    pthread_join(lg->thread, NULL);
    close_handles(lg);
    pthread_mutex_destroy(&lg->mu);
    pthread_cond_destroy(&lg->cv);
    pthread_cond_destroy(&lg->cv_done);
    for (int i = 0; i < 2; i++)
        queue_free(&lg->q[i]);
    queue_free(&lg->spare);
    free(lg->slots_used);
    free(lg);
}
