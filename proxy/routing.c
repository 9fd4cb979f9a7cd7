/* tg_routing: building, validating and swapping routing snapshots (see routing.h).
 *
 * One mutex (build_lock) serialises every rebuild, whoever asks (reloader thread, admin
 * thread), so two reloads never interleave; installing is router/route.c's atomic swap.
 * The reloader thread sleeps on a condition variable: woken by SIGHUP (through a flag it
 * polls every 100 ms, since a signal handler may not signal a condvar) or by stop, and
 * every TG_ROUTING_POLL_MS it compares the source files' stat with what it saw. */
#include "proxy/routing.h"

#include "common/file.h"
#include "policies/catalog.h"
#include "policies/policy.h"
#include "router/route.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100

typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool exists;
} file_seen;

static const tg_config *cfg_;
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;
static char *overlay_;          /* catalog overlay from the admin API, or NULL */
static size_t overlay_len_;
static file_seen seen_[TG_CONFIG_MAX_CATALOG + 1];
static atomic_int reload_asked;
static atomic_ulong reloads_, rejects_;
static pthread_t thread_;
static bool running_;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static bool stopping_;

static void problem(tg_routing_problems *p, const char *fmt, const char *a, const char *b)
{
    if (p->n < TG_ROUTING_MAX_PROBLEMS)
        snprintf(p->lines[p->n], sizeof p->lines[0], fmt, a, b);
    p->n++;
}

static file_seen stat_of(const char *path)
{
    struct stat st;
    file_seen f = {0};
    if (stat(path, &st) != 0)
        return f;
    f = (file_seen){st.st_dev, st.st_ino, st.st_size, st.st_mtim, true};
    return f;
}

static bool same(const file_seen *a, const file_seen *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Remembers the sources' stat as of this build (caller holds build_lock). */
static void note_files(const tg_config *cfg)
{
    for (int i = 0; i < cfg->ncatalog; i++)
        seen_[i] = stat_of(cfg->catalog[i]);
    if (cfg->policy[0])
        seen_[cfg->ncatalog] = stat_of(cfg->policy);
}

static bool files_changed(const tg_config *cfg)
{
    for (int i = 0; i < cfg->ncatalog; i++) {
        file_seen f = stat_of(cfg->catalog[i]);
        if (!same(&f, &seen_[i]))
            return true;
    }
    if (!cfg->policy[0])
        return false;
    file_seen f = stat_of(cfg->policy);
    return !same(&f, &seen_[cfg->ncatalog]);
}

/* Builds from cfg's files, the overlay, and `policy` (NULL: the policy file, or the
 * built-in policy when none is configured). */
static tg_route_snapshot *build(const tg_config *cfg, const char *policy, size_t plen,
                                tg_routing_problems *probs)
{
    const char *texts[TG_CONFIG_MAX_CATALOG + 1], *names[TG_CONFIG_MAX_CATALOG + 1];
    size_t lens[TG_CONFIG_MAX_CATALOG + 1];
    char *bufs[TG_CONFIG_MAX_CATALOG + 1] = {0}, *pbuf = NULL, err[400];
    int n = 0;
    probs->n = 0;
    for (int i = 0; i < cfg->ncatalog; i++) {
        if (tg_file_read(cfg->catalog[i], TG_CAT_MAX_FILE, &bufs[n], &lens[n], err,
                         sizeof err) != 0) {
            problem(probs, "%s%s", "", err);
            continue;
        }
        texts[n] = bufs[n];
        names[n++] = cfg->catalog[i];
    }
    if (overlay_) {
        texts[n] = overlay_;
        lens[n] = overlay_len_;
        names[n++] = "admin catalog overlay";
    }
    if (!policy && cfg->policy[0]) {
        if (tg_file_read(cfg->policy, TG_POLICY_MAX_FILE, &pbuf, &plen, err, sizeof err) != 0)
            problem(probs, "%s%s", "", err);
        policy = pbuf;
    }
    /* the sources that could be read are still checked, so every problem is reported */
    int unread = probs->n, keep = unread < TG_ROUTING_MAX_PROBLEMS ? unread
                                                                  : TG_ROUTING_MAX_PROBLEMS;
    int found = 0;
    tg_route_snapshot *s = tg_route_snapshot_build(
        texts, lens, names, n, policy, plen, cfg->policy[0] ? cfg->policy : "policy",
        probs->lines + keep, TG_ROUTING_MAX_PROBLEMS - keep, &found);
    probs->n = unread + found;
    if (s && unread) {
        tg_route_snapshot_free(s);
        s = NULL;
    }
    for (int i = 0; i < n; i++)
        if (texts[i] != overlay_)
            free(bufs[i]);
    free(pbuf);
    return s;
}

tg_route_snapshot *tg_routing_build(const tg_config *cfg, tg_routing_problems *probs)
{
    pthread_mutex_lock(&build_lock);
    tg_route_snapshot *s = build(cfg, NULL, 0, probs);
    pthread_mutex_unlock(&build_lock);
    return s;
}

static void log_installed(const tg_route_snapshot *s, const char *why)
{
    fprintf(stderr, "tollgate: routing %s: policy %s (%d rules), catalog %s (%d models)\n",
            why, tg_policy_version(s->policy), tg_policy_rule_count(s->policy),
            tg_catalog_version(s->catalog), tg_catalog_count(s->catalog));
}

static void log_rejected(const tg_routing_problems *p, const char *why)
{
    fprintf(stderr, "tollgate: %s rejected (%d problem%s); the running routing stays:\n", why,
            p->n, p->n == 1 ? "" : "s");
    for (int i = 0; i < p->n && i < TG_ROUTING_MAX_PROBLEMS; i++)
        fprintf(stderr, "  %s\n", p->lines[i]);
}

int tg_routing_init(const tg_config *cfg, tg_routing_problems *probs)
{
    cfg_ = cfg;
    pthread_mutex_lock(&build_lock);
    tg_route_snapshot *s = build(cfg, NULL, 0, probs);
    if (s)
        note_files(cfg);
    pthread_mutex_unlock(&build_lock);
    if (!s)
        return -1;
    tg_route_install(s);
    log_installed(s, "loaded");
    return 0;
}

int tg_routing_reload(tg_routing_problems *probs)
{
    pthread_mutex_lock(&build_lock);
    note_files(cfg_); /* what this reload read; a later change triggers another */
    tg_route_snapshot *s = build(cfg_, NULL, 0, probs);
    pthread_mutex_unlock(&build_lock);
    if (!s) {
        atomic_fetch_add(&rejects_, 1);
        log_rejected(probs, "reload");
        return -1;
    }
    tg_route_install(s);
    atomic_fetch_add(&reloads_, 1);
    log_installed(s, "reloaded");
    return 0;
}

/* Writes `text` over `path` atomically (temporary file, fsync, rename). */
static int write_atomic(const char *path, const char *text, size_t len,
                        tg_routing_problems *probs)
{
    char tmp[TG_CONFIG_STR_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(text, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        problem(probs, "%s: cannot write the new policy: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int tg_routing_replace_policy(const char *text, size_t len, bool validate_only,
                              tg_routing_problems *probs)
{
    pthread_mutex_lock(&build_lock);
    tg_route_snapshot *s = build(cfg_, text, len, probs);
    int rc = s ? 0 : -1;
    if (s && !validate_only && cfg_->policy[0] &&
        write_atomic(cfg_->policy, text, len, probs) != 0)
        rc = -1;
    if (rc == 0 && !validate_only) {
        note_files(cfg_);
        tg_route_install(s);
        atomic_fetch_add(&reloads_, 1);
        log_installed(s, "replaced through the admin API");
        s = NULL;
    }
    pthread_mutex_unlock(&build_lock);
    tg_route_snapshot_free(s);
    if (rc != 0 && !validate_only)
        atomic_fetch_add(&rejects_, 1);
    return rc;
}

int tg_routing_replace_catalog(const char *text, size_t len, bool validate_only,
                               tg_routing_problems *probs)
{
    pthread_mutex_lock(&build_lock);
    char *old = overlay_, *copy = text ? malloc(len + 1) : NULL;
    size_t old_len = overlay_len_;
    if (text && !copy) {
        pthread_mutex_unlock(&build_lock);
        probs->n = 0;
        problem(probs, "%s%s", "", "out of memory");
        return -1;
    }
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    overlay_ = copy;
    overlay_len_ = len;
    tg_route_snapshot *s = build(cfg_, NULL, 0, probs);
    if (!s || validate_only) { /* put the old overlay back */
        overlay_ = old;
        overlay_len_ = old_len;
        free(copy);
    } else {
        free(old);
        tg_route_install(s);
        atomic_fetch_add(&reloads_, 1);
        log_installed(s, "catalog replaced through the admin API");
        s = NULL;
    }
    bool ok = probs->n == 0;
    pthread_mutex_unlock(&build_lock);
    tg_route_snapshot_free(s);
    if (!ok && !validate_only)
        atomic_fetch_add(&rejects_, 1);
    return ok ? 0 : -1;
}

void tg_routing_request_reload(void)
{
    atomic_store(&reload_asked, 1);
}

static void *reloader(void *arg)
{
    (void)arg;
    int64_t since_poll = 0;
    pthread_mutex_lock(&stop_lock);
    while (!stopping_) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += TICK_MS * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&stop_cond, &stop_lock, &t);
        if (stopping_)
            break;
        pthread_mutex_unlock(&stop_lock);
        since_poll += TICK_MS;
        bool asked = atomic_exchange(&reload_asked, 0) != 0;
        bool changed = false;
        if (!asked && since_poll >= TG_ROUTING_POLL_MS) {
            since_poll = 0;
            pthread_mutex_lock(&build_lock);
            changed = files_changed(cfg_);
            pthread_mutex_unlock(&build_lock);
        }
        if (asked || changed) {
            tg_routing_problems *p = malloc(sizeof *p);
            if (p)
                (void)tg_routing_reload(p);
            free(p);
        }
        pthread_mutex_lock(&stop_lock);
    }
    pthread_mutex_unlock(&stop_lock);
    return NULL;
}

int tg_routing_start(void)
{
    stopping_ = false;
    if (pthread_create(&thread_, NULL, reloader, NULL) != 0)
        return -1;
    running_ = true;
    return 0;
}

void tg_routing_stop(void)
{
    if (running_) {
        pthread_mutex_lock(&stop_lock);
        stopping_ = true;
        pthread_cond_signal(&stop_cond);
        pthread_mutex_unlock(&stop_lock);
        pthread_join(thread_, NULL);
        running_ = false;
    }
    tg_route_install(NULL);
    pthread_mutex_lock(&build_lock);
    free(overlay_);
    overlay_ = NULL;
    pthread_mutex_unlock(&build_lock);
}

unsigned long tg_routing_reloads(void)
{
    return atomic_load(&reloads_);
}

unsigned long tg_routing_rejects(void)
{
    return atomic_load(&rejects_);
}

bool tg_routing_provider_ok(void *cfg, const char *name, char *why)
{
    const tg_provider_config *p = tg_config_provider(cfg, name);
    if (!p) {
        snprintf(why, TG_ROUTE_WHY_MAX, "provider %s is not configured", name);
        return false;
    }
    const char *key = p->api_key_env[0] ? getenv(p->api_key_env) : "";
    if (!key || (p->api_key_env[0] && !*key)) {
        snprintf(why, TG_ROUTE_WHY_MAX, "provider %s has no API key configured (set %s)",
                 name, p->api_key_env);
        return false;
    }
    return true;
}

bool tg_routing_provider_exists(void *cfg, const char *name)
{
    return tg_config_provider(cfg, name) != NULL;
}
