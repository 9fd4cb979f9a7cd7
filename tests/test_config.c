/* Unit tests of tg_config (proxy/config.c): the embedded defaults, a full valid file, each
 * kind of problem with its exact text ("FILE: $.path: what is wrong"), many problems from
 * one file, the TOLLGATE_STORE override and the provider lookup.
 *
 * Fixtures are in $TG_TEST_DATA/config; small cases are written to a temporary file, so
 * that the JSON and the problem it must give sit side by side in the table below. */
#include <check.h>
#include <curl/curl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

#define MAXP 64

static char tmpdir[] = "/tmp/tg_test_config.XXXXXX";

/* $TG_TEST_DATA/config/NAME into a static buffer. */
static const char *fixture(const char *name)
{
    static char path[PATH_MAX];
    const char *data = getenv("TG_TEST_DATA");
    ck_assert_msg(data != NULL, "TG_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/config/%s", data, name);
    return path;
}

/* Writes `len` bytes of `text` to a new file in tmpdir; returns its path (static). */
static const char *write_file(const char *text, size_t len)
{
    static char path[PATH_MAX];
    static int seq;
    snprintf(path, sizeof path, "%s/c%d.json", tmpdir, seq++);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static const char *write_text(const char *text)
{
    return write_file(text, strlen(text));
}

static tg_config cfg;
static tg_config_problem probs[MAXP];

static int load_text(const char *text, const char **path)
{
    *path = write_text(text);
    return tg_config_load(*path, &cfg, probs, MAXP);
}

/* Asserts that problem i is "PATH: rest" for the file `path`. */
static void assert_problem(int i, const char *path, const char *rest)
{
    char want[sizeof probs[0].text + PATH_MAX];
    snprintf(want, sizeof want, "%s: %s", path, rest);
    ck_assert_str_eq(probs[i].text, want);
}

static void setup(void)
{
    unsetenv("TOLLGATE_STORE");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    memcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX", 6);
}

/* ---------------------------------------------------------------- defaults */

static void assert_defaults(const tg_config *c)
{
    ck_assert_str_eq(c->listen_host, "127.0.0.1");
    ck_assert_int_eq(c->listen_port, 8080);
    ck_assert_str_eq(c->admin_host, "127.0.0.1");
    ck_assert_int_eq(c->admin_port, 8081);
    ck_assert_str_eq(c->admin_token_env, "TOLLGATE_ADMIN_TOKEN");
    ck_assert_int_eq(c->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_str_eq(c->store, "sqlite:./var/tollgate.db");
    ck_assert_int_eq(c->ncatalog, 0);
    ck_assert_str_eq(c->policy, "");
    ck_assert_str_eq(c->default_provider, "openai");
    ck_assert_int_eq(c->nproviders, 2);
    ck_assert_uint_eq(c->max_body_bytes, 8388608);
    ck_assert_uint_eq(c->max_header_bytes, 8192);
    ck_assert_uint_eq(c->max_connections, 16384);
    ck_assert_uint_eq(c->stream_buffer_bytes, 262144);
    ck_assert_uint_eq(c->client_timeout_s, 300);
    ck_assert_int_eq(c->quota_utc_offset_s, 0);
    ck_assert_int_eq(c->quota_min_output_tokens, 64);
    const tg_provider_config *o = tg_config_provider(c, "openai");
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->format, TG_FORMAT_OPENAI);
    ck_assert_str_eq(o->base_url, "https://api.openai.com");
    ck_assert_str_eq(o->api_key_env, "OPENAI_API_KEY");
    ck_assert_int_eq(o->connect_ms, 5000);
    ck_assert_int_eq(o->first_byte_ms, 60000);
    ck_assert_int_eq(o->idle_ms, 60000);
    ck_assert_int_eq(o->total_ms, 600000);
    ck_assert(!o->http2);
    const tg_provider_config *a = tg_config_provider(c, "anthropic");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->format, TG_FORMAT_ANTHROPIC);
    ck_assert_str_eq(a->base_url, "https://api.anthropic.com");
    ck_assert_str_eq(a->api_key_env, "ANTHROPIC_API_KEY");
    ck_assert_int_eq(a->total_ms, 600000);
}

START_TEST(defaults)
{
    tg_config_defaults(&cfg);
    assert_defaults(&cfg);
    ck_assert_int_eq(tg_config_load(NULL, &cfg, probs, MAXP), 0);
    assert_defaults(&cfg);
    ck_assert_int_eq(tg_config_load(fixture("minimal.json"), &cfg, probs, MAXP), 0);
    assert_defaults(&cfg);
    ck_assert_int_eq(tg_config_load(NULL, &cfg, NULL, 0), 0);
}
END_TEST

/* ---------------------------------------------------------------- a full file */

START_TEST(full_file)
{
    const char *path = fixture("full.json");
    ck_assert_int_eq(tg_config_load(path, &cfg, probs, MAXP), 0);
    ck_assert_str_eq(cfg.listen_host, "0.0.0.0");
    ck_assert_int_eq(cfg.listen_port, 9090);
    ck_assert_str_eq(cfg.admin_host, "::1");
    ck_assert_int_eq(cfg.admin_port, 9091);
    ck_assert_str_eq(cfg.admin_token_env, "TG_TEST_ADMIN_TOKEN");
    ck_assert_int_eq(cfg.workers, 3);
    ck_assert_str_eq(cfg.store, "sqlite:/tmp/tollgate-test/tollgate.db");
    ck_assert_int_eq(cfg.ncatalog, 2);
    ck_assert_str_eq(cfg.catalog[0], fixture("models.json")); /* relative to the file */
    ck_assert_str_eq(cfg.catalog[1], fixture("prices.json"));
    ck_assert_str_eq(cfg.policy, fixture("policy.json"));
    ck_assert_str_eq(cfg.default_provider, "anthropic");
    ck_assert_int_eq(cfg.nproviders, 3);
    ck_assert_uint_eq(cfg.max_body_bytes, 1048576);
    ck_assert_uint_eq(cfg.max_header_bytes, 16384);
    ck_assert_uint_eq(cfg.max_connections, 1000);
    ck_assert_uint_eq(cfg.stream_buffer_bytes, 65536);
    ck_assert_uint_eq(cfg.client_timeout_s, 120);
    ck_assert_int_eq(cfg.quota_utc_offset_s, -(5 * 3600 + 30 * 60));
    ck_assert_int_eq(cfg.quota_min_output_tokens, 32);

    const tg_provider_config *o = &cfg.providers[0];
    ck_assert_str_eq(o->name, "openai");
    ck_assert_str_eq(o->base_url, "https://api.openai.com"); /* trailing slash dropped */
    ck_assert_str_eq(o->api_key_env, "TG_TEST_OPENAI_KEY");
    ck_assert_int_eq(o->connect_ms, 2000);
    ck_assert_int_eq(o->first_byte_ms, 30000);
    ck_assert_int_eq(o->idle_ms, 20000);
    ck_assert_int_eq(o->total_ms, 300000);
    const tg_provider_config *a = &cfg.providers[1];
    ck_assert_str_eq(a->name, "anthropic");
    ck_assert_int_eq(a->format, TG_FORMAT_ANTHROPIC);
    ck_assert_str_eq(a->base_url, "https://api.anthropic.com"); /* default by name */
    ck_assert_int_eq(a->connect_ms, 5000);
    const tg_provider_config *l = &cfg.providers[2];
    ck_assert_str_eq(l->name, "local");
    ck_assert_int_eq(l->format, TG_FORMAT_OPENAI);
    ck_assert_str_eq(l->base_url, "http://localhost:11434/v1");
    ck_assert_str_eq(l->api_key_env, ""); /* no key */
    ck_assert(o->http2 && !a->http2 && !l->http2);
    ck_assert_str_eq(o->ca_file, fixture("ca.pem")); /* relative to the file */
    ck_assert_str_eq(a->ca_file, "");
}
END_TEST

START_TEST(valid_variants)
{
    const char *path;
    ck_assert_int_eq(load_text("{\"listen\": \"localhost:1\", \"admin\": {\"listen\": "
                               "\"my-host.example.com:65535\"}}", &path), 0);
    ck_assert_str_eq(cfg.listen_host, "localhost");
    ck_assert_int_eq(cfg.listen_port, 1);
    ck_assert_str_eq(cfg.admin_host, "my-host.example.com");
    ck_assert_int_eq(cfg.admin_port, 65535);

    ck_assert_int_eq(load_text("{\"listen\": \"[::]:80\", \"workers\": 0}", &path), 0);
    ck_assert_str_eq(cfg.listen_host, "::");
    ck_assert_int_eq(cfg.workers, (int)sysconf(_SC_NPROCESSORS_ONLN));

    /* catalog as one string; absolute paths are kept */
    ck_assert_int_eq(load_text("{\"catalog\": \"/etc/tollgate/models.json\", "
                               "\"policy\": \"p.json\"}", &path), 0);
    ck_assert_int_eq(cfg.ncatalog, 1);
    ck_assert_str_eq(cfg.catalog[0], "/etc/tollgate/models.json");
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/p.json", tmpdir);
    ck_assert_str_eq(cfg.policy, want);

    /* providers replace the defaults whole; the default provider falls back to the
     * first one; api_key_env is derived from the name */
    ck_assert_int_eq(load_text("{\"providers\": {\"my-llm.2\": {\"base_url\": "
                               "\"HTTPS://llm.internal:8443/api/\"}}}", &path), 0);
    ck_assert_int_eq(cfg.nproviders, 1);
    ck_assert_str_eq(cfg.default_provider, "my-llm.2");
    ck_assert_str_eq(cfg.providers[0].base_url, "HTTPS://llm.internal:8443/api");
    ck_assert_str_eq(cfg.providers[0].api_key_env, "MY_LLM_2_API_KEY");
    ck_assert_int_eq(cfg.providers[0].format, TG_FORMAT_OPENAI);

    /* a UTF-8 byte order mark is allowed; postgres URLs are accepted */
    ck_assert_int_eq(load_text("\xEF\xBB\xBF{\"store\": \"postgres://u:p@db/tg\"}", &path), 0);
    ck_assert_str_eq(cfg.store, "postgres://u:p@db/tg");
}
END_TEST

/* ---------------------------------------------------------------- one problem each */

typedef struct {
    const char *json;
    const char *problem; /* after "FILE: " */
} problem_case;

static const problem_case cases[] = {
    /* listen and admin.listen */
    {"{\"listen\": \"127.0.0.1:0\"}",
     "$.listen: expected \"host:port\" with a port 1-65535, got \"127.0.0.1:0\""},
    {"{\"listen\": \"localhost\"}",
     "$.listen: expected \"host:port\" with a port 1-65535, got \"localhost\""},
    {"{\"listen\": \"localhost:65536\"}",
     "$.listen: expected \"host:port\" with a port 1-65535, got \"localhost:65536\""},
    {"{\"listen\": \"localhost:+80\"}",
     "$.listen: expected \"host:port\" with a port 1-65535, got \"localhost:+80\""},
    {"{\"listen\": \"256.1.1.1:80\"}",
     "$.listen: expected \"host:port\" with a port 1-65535, got \"256.1.1.1:80\""},
    {"{\"listen\": \"bad_host:80\"}",
     "$.listen: expected \"host:port\" with a port 1-65535, got \"bad_host:80\""},
    {"{\"listen\": \":80\"}",
     "$.listen: expected \"host:port\" with a port 1-65535, got \":80\""},
    {"{\"listen\": \"::1:8080\"}",
     "$.listen: expected \"host:port\" with a port 1-65535 (an IPv6 address in brackets: "
     "\"[::1]:8080\"), got \"::1:8080\""},
    {"{\"listen\": 8080}", "$.listen: expected a string, got a number"},
    {"{\"admin\": {\"listen\": \"[::1]8081\"}}",
     "$.admin.listen: expected \"host:port\" with a port 1-65535, got \"[::1]8081\""},
    {"{\"admin\": {\"listen\": \"[fe80::zz]:8081\"}}",
     "$.admin.listen: expected \"host:port\" with a port 1-65535, got \"[fe80::zz]:8081\""},
    {"{\"listen\": \"127.0.0.1:8081\"}",
     "$.listen: the public API and the admin API cannot share port 8081"},
    {"{\"listen\": \"0.0.0.0:9000\", \"admin\": {\"listen\": \"localhost:9000\"}}",
     "$.admin.listen: the public API and the admin API cannot share port 9000"},
    {"{\"admin\": \"127.0.0.1:8081\"}", "$.admin: expected an object, got a string"},
    /* numbers */
    {"{\"limits\": {\"max_body_bytes\": 12}}",
     "$.limits.max_body_bytes: expected an integer from 1024 to 1073741824, got 12"},
    {"{\"limits\": {\"max_body_bytes\": \"8M\"}}",
     "$.limits.max_body_bytes: expected an integer from 1024 to 1073741824, got a string"},
    {"{\"limits\": {\"max_body_bytes\": 2048.5}}",
     "$.limits.max_body_bytes: expected an integer from 1024 to 1073741824, got 2048.5"},
    {"{\"limits\": {\"max_body_bytes\": 1e300}}",
     "$.limits.max_body_bytes: expected an integer from 1024 to 1073741824, got 1e+300"},
    {"{\"limits\": {\"client_timeout_s\": 0}}",
     "$.limits.client_timeout_s: expected an integer from 1 to 86400, got 0"},
    {"{\"limits\": {\"max_connections\": true}}",
     "$.limits.max_connections: expected an integer from 1 to 1000000, got a boolean"},
    {"{\"workers\": -1}", "$.workers: expected an integer from 0 to 1024, got -1"},
    {"{\"workers\": null}", "$.workers: expected an integer from 0 to 1024, got null"},
    {"{\"providers\": {\"openai\": {\"timeouts\": {\"connect_ms\": 0}}}}",
     "$.providers.openai.timeouts.connect_ms: expected an integer from 1 to 600000, got 0"},
    {"{\"limits\": []}", "$.limits: expected an object, got an array"},
    {"{\"providers\": {\"openai\": {\"http2\": \"yes\"}}}",
     "$.providers.openai.http2: expected true or false"},
    {"{\"providers\": {\"openai\": {\"http2\": 1}}}",
     "$.providers.openai.http2: expected true or false"},
    {"{\"providers\": {\"openai\": {\"ca_file\": \"/nonexistent/ca.pem\"}}}",
     "$.providers.openai.ca_file: cannot read /nonexistent/ca.pem: No such file or directory"},
    {"{\"providers\": {\"openai\": {\"ca_file\": \"\"}}}",
     "$.providers.openai.ca_file: expected a non-empty string"},
    {"{\"quotas\": {\"utc_offset\": \"+19:00\"}}",
     "$.quotas.utc_offset: expected \"+HH:MM\", \"-HH:MM\" (at most 18:00) or \"Z\""},
    {"{\"quotas\": {\"utc_offset\": \"0200\"}}",
     "$.quotas.utc_offset: expected \"+HH:MM\", \"-HH:MM\" (at most 18:00) or \"Z\""},
    {"{\"quotas\": {\"min_output_tokens\": 0}}",
     "$.quotas.min_output_tokens: expected an integer from 1 to 1000000000, got 0"},
    /* unknown and duplicate fields */
    {"{\"lisen\": \"127.0.0.1:8080\"}", "$.lisen: unknown field (did you mean \"listen\"?)"},
    {"{\"Listen\": \"127.0.0.1:8080\"}", "$.Listen: unknown field (did you mean \"listen\"?)"},
    {"{\"colour\": 1}",
     "$.colour: unknown field (known: listen, workers, admin, store, catalog, policy, "
     "default_provider, providers, limits, quotas)"},
    {"{\"limits\": {\"max_conections\": 5}}",
     "$.limits.max_conections: unknown field (did you mean \"max_connections\"?)"},
    {"{\"providers\": {\"openai\": {\"base_ulr\": \"https://x\"}}}",
     "$.providers.openai.base_ulr: unknown field (did you mean \"base_url\"?)"},
    {"{\"providers\": {\"openai\": {\"timeouts\": {\"first-byte-ms\": 5}}}}",
     "$.providers.openai.timeouts.first-byte-ms: unknown field (did you mean "
     "\"first_byte_ms\"?)"},
    {"{\"admin\": {\"tokenenv\": \"X\"}}",
     "$.admin.tokenenv: unknown field (did you mean \"token_env\"?)"},
    {"{\"a b\\\"c\": 1}",
     "$[\"a b\\\"c\"]: unknown field (known: listen, workers, admin, store, catalog, "
     "policy, default_provider, providers, limits, quotas)"},
    {"{\"workers\": 2, \"workers\": 3}",
     "$.workers: duplicate field (each field may appear once)"},
    /* providers */
    {"{\"providers\": {\"openai\": {\"format\": \"gcp\"}}}",
     "$.providers.openai.format: expected \"openai\" or \"anthropic\", got \"gcp\""},
    {"{\"providers\": {\"openai\": {}, \"openai\": {}}}",
     "$.providers.openai: duplicate provider name (each provider may appear once)"},
    {"{\"providers\": {}}", "$.providers: expected at least one provider"},
    {"{\"providers\": [\"openai\"]}",
     "$.providers: expected an object of providers by name, got an array"},
    {"{\"providers\": {\"openai\": \"https://api.openai.com\"}}",
     "$.providers.openai: expected an object, got a string"},
    {"{\"providers\": {\"my llm\": {\"base_url\": \"http://x\"}}}",
     "$.providers[\"my llm\"]: invalid provider name: 1-63 characters from A-Z a-z 0-9 _ . -"},
    {"{\"providers\": {\"groq\": {\"api_key_env\": \"GROQ_KEY\"}}}",
     "$.providers.groq: missing field \"base_url\" (required for a provider other than "
     "\"openai\" and \"anthropic\")"},
    {"{\"providers\": {\"01ai\": {\"base_url\": \"https://x\"}}}",
     "$.providers[\"01ai\"]: missing field \"api_key_env\" (none can be derived from the name)"},
    {"{\"default_provider\": \"azure\"}",
     "$.default_provider: names no provider: \"azure\" (providers: openai, anthropic)"},
    {"{\"default_provider\": \"\"}", "$.default_provider: expected a non-empty string"},
    /* environment variable names and inline secrets */
    {"{\"providers\": {\"openai\": {\"api_key_env\": \"openai_api_key\"}}}",
     "$.providers.openai.api_key_env: expected an environment variable name "
     "[A-Z_][A-Z0-9_]* (at most 63 characters), got \"openai_api_key\""},
    {"{\"providers\": {\"openai\": {\"api_key_env\": \"1KEY\"}}}",
     "$.providers.openai.api_key_env: expected an environment variable name "
     "[A-Z_][A-Z0-9_]* (at most 63 characters), got \"1KEY\""},
    {"{\"providers\": {\"openai\": {\"api_key_env\": \"sk-proj-AbC123xYz\"}}}",
     "$.providers.openai.api_key_env: expected the NAME of an environment variable "
     "[A-Z_][A-Z0-9_]*; the value (not shown) is not one: if it is a secret, remove it from "
     "the file and put it in that variable"},
    {"{\"admin\": {\"token_env\": \"\"}}",
     "$.admin.token_env: expected an environment variable name [A-Z_][A-Z0-9_]* "
     "(at most 63 characters), got \"\""},
    {"{\"providers\": {\"openai\": {\"api_key\": \"sk-live-0123\"}}}",
     "$.providers.openai.api_key: secrets are never inline: put the key in an environment "
     "variable and name it in api_key_env"},
    {"{\"providers\": {\"openai\": {\"Token\": \"abc\"}}}",
     "$.providers.openai.Token: secrets are never inline: put the key in an environment "
     "variable and name it in api_key_env"},
    {"{\"admin\": {\"token\": \"hunter2\"}}",
     "$.admin.token: secrets are never inline: put the key in an environment variable and "
     "name it in token_env"},
    {"{\"api-key\": \"x\"}",
     "$.api-key: secrets are never inline: put the key in an environment variable and name "
     "it in providers.*.api_key_env"},
    /* base_url */
    {"{\"providers\": {\"openai\": {\"base_url\": \"api.openai.com\"}}}",
     "$.providers.openai.base_url: expected a URL starting with http:// or https://"},
    {"{\"providers\": {\"openai\": {\"base_url\": \"ftp://api.openai.com\"}}}",
     "$.providers.openai.base_url: expected a URL starting with http:// or https://"},
    {"{\"providers\": {\"openai\": {\"base_url\": \"https://\"}}}",
     "$.providers.openai.base_url: expected http(s)://host[:port][/path] without spaces, "
     "query or fragment"},
    {"{\"providers\": {\"openai\": {\"base_url\": \"https://x/v1?key=1\"}}}",
     "$.providers.openai.base_url: expected http(s)://host[:port][/path] without spaces, "
     "query or fragment"},
    {"{\"providers\": {\"openai\": {\"base_url\": \"https://u:pw@api.openai.com\"}}}",
     "$.providers.openai.base_url: secrets are never inline: put the key in an environment "
     "variable and name it in api_key_env (no user:password@ in base_url)"},
    {"{\"providers\": {\"openai\": {\"base_url\": \"\"}}}",
     "$.providers.openai.base_url: expected a non-empty string"},
    /* store, catalog, policy */
    {"{\"store\": \"mysql://root:hunter2@db/x\"}",
     "$.store: expected \"sqlite:PATH\" or \"postgres://...\""},
    {"{\"store\": \"sqlite:\"}", "$.store: expected \"sqlite:PATH\" or \"postgres://...\""},
    {"{\"store\": {}}", "$.store: expected a string, got an object"},
    {"{\"catalog\": 5}",
     "$.catalog: expected a file name or an array of file names, got a number"},
    {"{\"catalog\": [\"a.json\", 3]}", "$.catalog[1]: expected a string, got a number"},
    {"{\"catalog\": [\"a.json\", \"\"]}", "$.catalog[1]: expected a non-empty string"},
    {"{\"catalog\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\","
     "\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
     "$.catalog: too many catalog files (at most 16)"},
    {"{\"policy\": \"\"}", "$.policy: expected a non-empty string"},
    {"{\"policy\": false}", "$.policy: expected a string, got a boolean"},
    /* the document */
    {"[]", "$: expected an object, got an array"},
    {"", "line 1, column 1: invalid JSON: unexpected end of file"},
    {"{\n  \"listen\": \"127.0.0.1:8080\"\n  \"workers\": 2\n}\n",
     "line 3, column 3: invalid JSON near '\"workers\": 2'"},
    {"{\"x\": tru}", "line 1, column 7: invalid JSON near 'tru}'"},
    {"{\"a\": [1, 2", "line 1, column 12: invalid JSON: unexpected end of file"},
    {"{} {}", "line 1, column 4: invalid JSON near '{}'"},
    {"{\"listen\": \"h\xC3\xA9:1\" x}", "line 1, column 19: invalid JSON near 'x}'"},
};

START_TEST(one_problem)
{
    const problem_case *c = &cases[_i];
    const char *path;
    int n = load_text(c->json, &path);
    ck_assert_msg(n == 1, "case %d: %d problems for %s (first: %s)", _i, n, c->json,
                  n ? probs[0].text : "none");
    assert_problem(0, path, c->problem);
}
END_TEST

/* The problem texts never repeat a secret written in the wrong place. */
START_TEST(secrets_not_echoed)
{
    const char *path;
    ck_assert_int_eq(load_text("{\"store\": \"postgresql:/u:hunter2@db\", \"providers\": "
                               "{\"openai\": {\"api_key_env\": \"sk-SECRETVALUE-123\", "
                               "\"api_key\": \"sk-OTHERSECRET\"}}}", &path), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(strstr(probs[i].text, "hunter2"));
        ck_assert_ptr_null(strstr(probs[i].text, "SECRET"));
    }
}
END_TEST

/* ---------------------------------------------------------------- files */

START_TEST(file_problems)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/none.json", tmpdir);
    ck_assert_int_eq(tg_config_load(path, &cfg, probs, MAXP), 1);
    assert_problem(0, path, "cannot open: No such file or directory");

    ck_assert_int_eq(tg_config_load(tmpdir, &cfg, probs, MAXP), 1);
    assert_problem(0, tmpdir, "cannot read: Is a directory");

    const char *p = write_file("{\"listen\"\0: 1}", 14);
    ck_assert_int_eq(tg_config_load(p, &cfg, probs, MAXP), 1);
    assert_problem(0, p, "not a text file (contains a NUL byte)");

    size_t big = TG_CONFIG_MAX_FILE + 1;
    char *text = malloc(big);
    ck_assert_ptr_nonnull(text);
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    p = write_file(text, big);
    free(text);
    ck_assert_int_eq(tg_config_load(p, &cfg, probs, MAXP), 1);
    assert_problem(0, p, "larger than the limit of 4194304 bytes");
    assert_defaults(&cfg);
}
END_TEST

START_TEST(too_long)
{
    char json[2048], longname[700];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *path;
    snprintf(json, sizeof json, "{\"policy\": \"%s\"}", longname);
    ck_assert_int_eq(load_text(json, &path), 1);
    assert_problem(0, path, "$.policy: too long (at most 511 bytes)");

    snprintf(json, sizeof json, "{\"default_provider\": \"%.64s\"}", longname);
    ck_assert_int_eq(load_text(json, &path), 1);
    assert_problem(0, path, "$.default_provider: too long (at most 63 bytes)");

    /* 500 bytes fit alone but not joined to the config's directory */
    snprintf(json, sizeof json, "{\"catalog\": [\"%.500s\"]}", longname);
    ck_assert_int_eq(load_text(json, &path), 1);
    assert_problem(0, path, "$.catalog[0]: too long once joined to the config's directory "
                            "(at most 511 bytes)");

    snprintf(json, sizeof json, "{\"listen\": \"%.64s:80\"}", longname);
    ck_assert_int_eq(load_text(json, &path), 1);
    ck_assert_ptr_nonnull(strstr(probs[0].text, "$.listen: expected \"host:port\""));

    /* a long unknown key is shortened in the path; the problem text stays bounded */
    snprintf(json, sizeof json, "{\"%.600s\": 1}", longname);
    ck_assert_int_eq(load_text(json, &path), 1);
    ck_assert_ptr_nonnull(strstr(probs[0].text, "aaa...\"]: unknown field"));
    ck_assert_uint_lt(strlen(probs[0].text), sizeof probs[0].text);
}
END_TEST

/* ---------------------------------------------------------------- many problems */

static const char *const many[] = {
    "$.lisen: unknown field (did you mean \"listen\"?)",
    "$.listen: expected \"host:port\" with a port 1-65535, got \"localhost:99999\"",
    "$.workers: expected an integer from 0 to 1024, got a string",
    "$.admin.token: secrets are never inline: put the key in an environment variable and "
    "name it in token_env",
    "$.store: expected \"sqlite:PATH\" or \"postgres://...\"",
    "$.catalog[1]: expected a string, got a number",
    "$.providers.openai.format: expected \"openai\" or \"anthropic\", got \"gcp\"",
    "$.providers.openai.base_url: expected a URL starting with http:// or https://",
    "$.providers.openai.api_key: secrets are never inline: put the key in an environment "
    "variable and name it in api_key_env",
    "$.providers.openai: duplicate provider name (each provider may appear once)",
    "$.providers.local.api_key_env: expected the NAME of an environment variable "
    "[A-Z_][A-Z0-9_]*; the value (not shown) is not one: if it is a secret, remove it from "
    "the file and put it in that variable",
    "$.providers.local.timeouts.conect_ms: unknown field (did you mean \"connect_ms\"?)",
    "$.providers.local: missing field \"base_url\" (required for a provider other than "
    "\"openai\" and \"anthropic\")",
    "$.providers[\"bad name\"]: invalid provider name: 1-63 characters from A-Z a-z 0-9 _ . -",
    "$.limits.max_body_bytes: expected an integer from 1024 to 1073741824, got 12",
    "$.limits.max_header_bytes: expected an integer from 1024 to 1048576, got 1.5",
    "$.limits.max_conections: unknown field (did you mean \"max_connections\"?)",
    "$.default_provider: names no provider: \"azure\" (providers: openai, local)",
};
#define NMANY ((int)(sizeof many / sizeof *many))

START_TEST(many_problems)
{
    const char *path = fixture("many_problems.json");
    int n = tg_config_load(path, &cfg, probs, MAXP);
    ck_assert_int_eq(n, NMANY);
    for (int i = 0; i < NMANY; i++)
        assert_problem(i, path, many[i]);

    /* fewer slots than problems: the count is still the whole number */
    tg_config_problem few[3];
    ck_assert_int_eq(tg_config_load(path, &cfg, few, 3), NMANY);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(few[i].text, probs[i].text);
    ck_assert_int_eq(tg_config_load(path, &cfg, NULL, 0), NMANY);
}
END_TEST

/* ---------------------------------------------------------------- TOLLGATE_STORE */

START_TEST(store_env)
{
    const char *path;
    setenv("TOLLGATE_STORE", "sqlite:/tmp/from-env.db", 1);
    ck_assert_int_eq(tg_config_load(NULL, &cfg, probs, MAXP), 0);
    ck_assert_str_eq(cfg.store, "sqlite:/tmp/from-env.db");
    ck_assert_int_eq(load_text("{\"store\": \"sqlite:/tmp/from-file.db\"}", &path), 0);
    ck_assert_str_eq(cfg.store, "sqlite:/tmp/from-env.db");

    setenv("TOLLGATE_STORE", "", 1); /* empty: as if unset */
    ck_assert_int_eq(load_text("{\"store\": \"sqlite:/tmp/from-file.db\"}", &path), 0);
    ck_assert_str_eq(cfg.store, "sqlite:/tmp/from-file.db");

    setenv("TOLLGATE_STORE", "redis://u:hunter2@h", 1);
    ck_assert_int_eq(tg_config_load(NULL, &cfg, probs, MAXP), 1);
    ck_assert_str_eq(probs[0].text, "TOLLGATE_STORE (environment): expected \"sqlite:PATH\" "
                                    "or \"postgres://...\"");
    ck_assert_int_eq(load_text("{\"workers\": -2}", &path), 2); /* both are counted */
    ck_assert_str_eq(probs[1].text, "TOLLGATE_STORE (environment): expected \"sqlite:PATH\" "
                                    "or \"postgres://...\"");
    unsetenv("TOLLGATE_STORE");
}
END_TEST

/* ---------------------------------------------------------------- lookup */

START_TEST(provider_lookup)
{
    ck_assert_int_eq(tg_config_load(fixture("full.json"), &cfg, probs, MAXP), 0);
    ck_assert_ptr_eq(tg_config_provider(&cfg, "openai"), &cfg.providers[0]);
    ck_assert_ptr_eq(tg_config_provider(&cfg, "local"), &cfg.providers[2]);
    ck_assert_ptr_null(tg_config_provider(&cfg, "OpenAI"));
    ck_assert_ptr_null(tg_config_provider(&cfg, ""));
    ck_assert_ptr_null(tg_config_provider(&cfg, "azure"));

    const char *path;
    ck_assert_int_eq(load_text("{\"providers\": {\"anthropic\": {}}}", &path), 0);
    ck_assert_ptr_null(tg_config_provider(&cfg, "openai")); /* replaced whole */
    ck_assert_ptr_nonnull(tg_config_provider(&cfg, "anthropic"));
    ck_assert_str_eq(cfg.default_provider, "anthropic");

    char json[8192];
    size_t o = (size_t)snprintf(json, sizeof json, "{\"providers\": {");
    for (int i = 0; i < TG_CONFIG_MAX_PROVIDERS + 1; i++)
        o += (size_t)snprintf(json + o, sizeof json - o, "%s\"p%d\": {\"base_url\": "
                              "\"http://h%d\"}", i ? ", " : "", i, i);
    snprintf(json + o, sizeof json - o, "}}");
    ck_assert_int_eq(load_text(json, &path), 1);
    assert_problem(0, path, "$.providers: too many providers (at most 32)");

    /* HTTP/2: over https always; over cleartext only with a libcurl whose h2c works */
    ck_assert_int_eq(load_text("{\"providers\": {\"openai\": {\"http2\": true}}}", &path),
                     0);
    ck_assert(cfg.providers[0].http2);
    int n = load_text("{\"providers\": {\"l\": {\"base_url\": \"http://h\", "
                      "\"api_key_env\": \"\", \"http2\": true}}}", &path);
    if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080000) {
        ck_assert_int_eq(n, 1);
        ck_assert_msg(strstr(probs[0].text, "$.providers.l.http2: HTTP/2 over cleartext "
                             "(http://) needs libcurl 8.0 or later") != NULL, "%s",
                      probs[0].text);
    } else {
        ck_assert_int_eq(n, 0);
    }
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, full_file);
    tcase_add_test(tc, valid_variants);
    tcase_add_loop_test(tc, one_problem, 0, (int)(sizeof cases / sizeof *cases));
    tcase_add_test(tc, secrets_not_echoed);
    tcase_add_test(tc, file_problems);
    tcase_add_test(tc, too_long);
    tcase_add_test(tc, many_problems);
    tcase_add_test(tc, store_env);
    tcase_add_test(tc, provider_lookup);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
