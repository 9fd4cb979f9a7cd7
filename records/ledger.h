/* tg_ledger: the one writer thread that puts reservations, settlements and request
 * records into the store, group-committed, with durability notices for event loops.
 *
 * Everything written is a tg_record (store.h): a reservation is the request's record in
 * state RESERVED, its settlement the same record (same id and attempt) in state SETTLED
 * or RELEASED, which replaces the row; a plain record (state RECORDED) is written as is.
 * So a settlement and the request's record are one row in one transaction.
 *
 * Submitting copies the record into an in-memory FIFO (a mutex held for a memcpy): the
 * caller never waits for the disk.  The writer drains the FIFO in batches, one
 * transaction per batch (at most TG_LEDGER_BATCH_MAX rows): many requests share one
 * commit.  Order is kept: a settlement is never written before its reservation.
 *
 * Reservations, on a store with a reservations file (SQLite's slot file): written on the
 * submitting thread into the reservation's slot, with no system call; durable (kill -9)
 * when tg_ledger_submit returns true, which it then always does unless the write failed
 * (the notice then says ok = false at once: refuse the request and release it).
 *
 * Durability notices: a caller that must not go on before its row is durable (a
 * reservation on a store without such a file, before the request goes upstream) submits
 * with a waiter and a cookie.  A
 * waiter is an eventfd plus a list of finished cookies; an event loop makes one per
 * worker, puts tg_ledger_waiter_fd in its epoll set (EPOLLIN), and when it is readable
 * calls tg_ledger_collect to get the cookies whose rows are now committed (WAL,
 * synchronous=NORMAL: they survive kill -9 of the process).  A cookie comes back exactly
 * once, with ok = false when the first attempt to write it failed (the writer keeps
 * retrying; the caller should refuse the request and release its reservation).
 *
 * Two queues.  Urgent: reservations and rows with a waiter; one wakes the writer at once
 * when it is idle (while it writes, more pile up for the next commit: group commit), and
 * their transaction holds urgent rows only, so it stays small.  Lazy: everything else
 * (settlements, plain records), written every TG_LEDGER_TICK_MS or at TG_LEDGER_WAKE_AT
 * queued in a transaction of its own, so they cost no wake-up each and never slow a
 * reservation down.  The writer takes both queues at once and writes the urgent rows
 * first: a settlement never reaches the disk before its reservation.
 * Inline commit: a waiter marked with tg_ledger_waiter_inline (an event loop with nothing
 * else in flight, so blocking it delays no one) has its submission committed on the
 * calling thread when no transaction is under way, together with the urgent rows queued
 * before it: tg_ledger_submit then answers true (durable) and no notice comes for it, with
 * no hand-over to the writer thread and back (two thread wake-ups, most of a lone
 * request's added latency) and no eventfd round trip.  If that write fails, the notice
 * (ok = false) is on the waiter's list when submit returns.  Otherwise it is queued as
 * usual.  A
 * failed write is retried every TG_LEDGER_RETRY_MS, never dropped; tg_ledger_stop writes
 * everything still queued before it returns. */
#ifndef TG_LEDGER_H
#define TG_LEDGER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TG_LEDGER_BATCH_MAX 4096 /* rows per transaction */
#define TG_LEDGER_WAKE_AT 512    /* queued plain records that wake the writer at once */
#define TG_LEDGER_TICK_MS 5      /* otherwise it looks every this often */
#define TG_LEDGER_RETRY_MS 200   /* pause before retrying a failed transaction */

typedef struct tg_ledger tg_ledger;
typedef struct tg_ledger_waiter tg_ledger_waiter;

/* One durability notice. */
typedef struct {
    uint64_t cookie; /* as given to tg_ledger_submit */
    bool ok;         /* committed; false: the write failed (still retried) */
} tg_ledger_done;

/* Starts the writer with its own handles on the store at `url` (not kept): one for the
 * ledger, one that claims the ledger's reservations file (tg_store_claim_reservations), so
 * a second process starting a ledger on the same file fails here.  Run recovery before.
 * Returns 0 with *out set, or -1 with one plain line in err (errlen bytes) and *out NULL. */
__attribute__((warn_unused_result)) int tg_ledger_start(const char *url, tg_ledger **out,
                                                       char *err, size_t errlen);

/* Writes everything queued, stops the writer, closes its store handle and frees `lg`
 * (NULL allowed).  Waiters still get their notices before it returns. */
void tg_ledger_stop(tg_ledger *lg);

/* Queues a copy of *rec, or puts a reservation into its slot at once (see above); a
 * reservation (state RESERVED) with slot 0 first gets a slot (rec->slot): its settlement
 * must carry the same slot, which is reused for a later reservation once that settlement
 * is committed.  `w` NULL: no notice; else `cookie` comes back through `w` once the row is
 * committed.  Returns true when the row is durable now (put into its slot, or committed
 * inline: see above) and no notice comes for it; false otherwise.  Thread-safe, never
 * blocks on I/O (it may wait for memory) unless `w` is marked inline. */
bool tg_ledger_submit(tg_ledger *lg, tg_record *rec, tg_ledger_waiter *w, uint64_t cookie);

/* Blocks until every record submitted before the call is committed (tests, benchmarks,
 * shutdown; never on an event loop). */
void tg_ledger_sync(tg_ledger *lg);

/* The record (id, attempt) as the ledger has it, its reservation while it is in flight
 * included (the reservations file is the ledger's alone while it runs): TG_STORE_OK,
 * TG_STORE_NOT_FOUND or TG_STORE_ERROR (tests, diagnostics; it waits for a commit under
 * way, so never call it on an event loop). */
__attribute__((warn_unused_result)) int tg_ledger_record_get(tg_ledger *lg, const char *id,
                                                            int attempt, tg_record *out);

/* Rows committed so far. */
uint64_t tg_ledger_written(const tg_ledger *lg);

/* A new waiter (non-blocking, close-on-exec eventfd).  Returns 0 with *out set, or -1
 * (errno from eventfd or ENOMEM).  Free it only when no notice for it is outstanding. */
__attribute__((warn_unused_result)) int tg_ledger_waiter_new(tg_ledger_waiter **out);

/* The waiter's eventfd, readable while notices wait to be collected. */
int tg_ledger_waiter_fd(const tg_ledger_waiter *w);

/* Whether submissions with this waiter may be committed on the submitting thread (see
 * the top of the file); false when made.  Set it from the waiter's own loop, before
 * submitting: true only while blocking that loop for one commit holds no one else up. */
void tg_ledger_waiter_inline(tg_ledger_waiter *w, bool on);

/* Whether urgent submissions with this waiter wait for tg_ledger_kick instead of waking
 * the writer one by one (false when made).  An event loop sets it once and kicks at the
 * end of each round, so the reservations of one round share one commit. */
void tg_ledger_waiter_defer(tg_ledger_waiter *w, bool on);

/* The end of a loop round: commits every urgent row queued (all loops' rows) on the
 * calling thread in one transaction when no transaction is under way, else leaves them
 * to the writer (woken if idle).  Returns how many of w's own notices it put into out[]
 * (up to `max`; the fd is signalled for any left over); 0 when it did not commit.  Call
 * it from w's own loop. */
size_t tg_ledger_kick(tg_ledger *lg, tg_ledger_waiter *w, tg_ledger_done *out, size_t max);

/* Takes up to `max` notices, oldest first, into out[].  Returns how many (0 when none).
 * If more remain the fd stays readable.  Call it from the waiter's own loop. */
size_t tg_ledger_collect(tg_ledger_waiter *w, tg_ledger_done *out, size_t max);

/* Closes the eventfd and frees the waiter (NULL allowed). */
void tg_ledger_waiter_free(tg_ledger_waiter *w);

#endif
