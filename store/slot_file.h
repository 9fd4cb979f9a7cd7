/* tg_slots: a file of fixed-size slots, written through a shared memory map, that holds
 * the reservations of the requests in flight of one serving process (the SQLite backend's
 * PATH-inflight beside the ledger).
 *
 * Why a map and not a database: a reservation must be durable before its request goes
 * upstream, and "durable" here means what the ledger's WAL with synchronous=NORMAL
 * promises: it survives the death of the process (kill -9), not a power cut.  A store into
 * a MAP_SHARED page is in the kernel's page cache the moment it is made, so it survives the
 * process exactly as a write(2) would, with no system call, no lock and no transaction:
 * the request's path pays a memcpy and a checksum.  The kernel writes the pages back in
 * its own time (and tg_slots_sync when asked).
 *
 * Layout: slot i lives at offset i * TG_SLOTS_SIZE.  Slot 0 is the header (a magic line
 * with the format's version and the slot size): a file that does not start with it is
 * refused, never guessed at.  A slot holds a 32-bit length, a CRC-32C over (slot number,
 * length, payload), and the payload.  Length 0 is an empty slot.  A slot whose checksum
 * does not match was being written when the process died (torn), and its request never
 * went upstream (it goes only after tg_slots_put returns), so readers skip it as empty.
 *
 * Ownership: tg_slots_open takes an exclusive flock on the file, held until tg_slots_close:
 * one process at a time (a second serve, or recovery while a serve runs, is refused with a
 * message saying so).  Within the process, different slots may be written by different
 * threads at once with no lock; growing (tg_slots_room) and reading (tg_slots_each) must
 * not run while a put to a slot they touch does. */
#ifndef TG_SLOT_FILE_H
#define TG_SLOT_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_SLOTS_SIZE 2048                       /* bytes per slot (and of the header) */
#define TG_SLOTS_HEAD 8                          /* length + CRC-32C, before the payload */
#define TG_SLOTS_PAYLOAD (TG_SLOTS_SIZE - TG_SLOTS_HEAD) /* the largest payload */
#define TG_SLOTS_MAX (INT64_C(1) << 18) /* slots a file may have: the map's address space */
#define TG_SLOTS_MAGIC "tollgate reservations slots v1\n"

typedef struct tg_slots tg_slots;

/* Opens (creating it, mode 0600, when `create`) and locks the slot file at `path`, and
 * maps it.  Returns 0 with *out set; 1 when the file does not exist and !create (*out
 * NULL); -1 with one plain line in err (errlen bytes): cannot open, held by another
 * process, not a slot file of this version. */
__attribute__((warn_unused_result)) int tg_slots_open(const char *path, bool create,
                                                     tg_slots **out, char *err,
                                                     size_t errlen);

/* Unmaps, unlocks and closes (NULL allowed).  The pages already written stay in the file. */
void tg_slots_close(tg_slots *s);

/* Makes the file long enough for slots 1..top (it grows by doubling, sparse: no disk
 * used until written).  Returns 0, or -1 with err set (top > TG_SLOTS_MAX - 1, or the
 * file system refused). */
__attribute__((warn_unused_result)) int tg_slots_room(tg_slots *s, int64_t top, char *err,
                                                     size_t errlen);

/* The highest slot the file has room for. */
int64_t tg_slots_top(const tg_slots *s);

/* Writes `len` bytes (1..TG_SLOTS_PAYLOAD) into slot `slot` (1..tg_slots_top): durable
 * against the process's death when it returns.  Returns 0, or -1 (slot or length out of
 * range: nothing written). */
__attribute__((warn_unused_result)) int tg_slots_put(tg_slots *s, int64_t slot,
                                                    const void *data, size_t len);

/* Calls fn(slot, payload, len, arg) for each slot holding a whole entry, in slot order,
 * until fn returns non-zero (which tg_slots_each returns); 0 when all were seen. */
int tg_slots_each(tg_slots *s, int (*fn)(int64_t slot, const uint8_t *data, size_t len,
                                         void *arg),
                  void *arg);

/* The highest slot holding a whole entry (0: none). */
int64_t tg_slots_highest(tg_slots *s);

/* Empties every slot (the file shrinks to its header).  Returns 0, or -1 with err set. */
__attribute__((warn_unused_result)) int tg_slots_clear(tg_slots *s, char *err, size_t errlen);

/* Reads one slot's bytes (TG_SLOTS_SIZE of them, as found in the file at slot `slot`):
 * returns the payload's length and sets *payload when the slot holds a whole entry, else
 * 0 (empty, torn or garbage).  Pure; the parser tg_slots_each uses (and the fuzz target). */
size_t tg_slots_parse(const uint8_t *bytes, int64_t slot, const uint8_t **payload);

/* CRC-32C (Castagnoli) of n bytes, continuing from `crc` (0 to start): the CPU's
 * instruction where it has one. */
uint32_t tg_slots_crc32c(uint32_t crc, const void *data, size_t n);

/* The same from a table, whatever the CPU (what tg_slots_crc32c falls back to; tests). */
uint32_t tg_slots_crc32c_portable(uint32_t crc, const void *data, size_t n);

#endif
