#!/usr/bin/env bash
# CLI contract of `tollgate check` (SPEC.md): the "config OK" summary and the warnings for
# keys missing from the environment on stdout (exit 0), every problem "FILE: $.path: ..."
# on stderr (exit 1), usage errors (exit 2), and secrets never printed.
# Fixtures: $TG_TEST_DATA/config (default: the data folder next to this script).
# usage: cli_check.sh PATH/TO/tollgate
set -u
tg=$1
case $tg in /*) ;; *) tg=$PWD/$tg ;; esac
data=${TG_TEST_DATA:-$(cd "$(dirname "$0")" && pwd)/data}/config
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
# A known environment: no store override, no keys, no admin token.
unset TOLLGATE_STORE OPENAI_API_KEY ANTHROPIC_API_KEY TOLLGATE_ADMIN_TOKEN
unset TG_TEST_OPENAI_KEY TG_TEST_ANTHROPIC_KEY TG_TEST_ADMIN_TOKEN

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

expect() { # name, expected stdout (without the catalog/policy lines), exit code, command...
  local name=$1 want=$2 code=$3; shift 3
  local got rc
  "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  got=$(grep -v -e '^catalog OK: ' -e '^policy OK: ' "$tmp/out")
  if [ "$got" == "$want" ] && [ "$rc" == "$code" ]; then ok
  else bad "$name: exit $rc (want $code), stdout [$got] (want [$want]), stderr: $(cat "$tmp/err")"; fi
}
stderr_is() { # name, the whole expected stderr
  local got; got=$(cat "$tmp/err")
  if [ "$got" == "$2" ]; then ok; else bad "$1: stderr [$got] (want [$2])"; fi
}
stderr_has() { # name, text
  if grep -qF -- "$2" "$tmp/err"; then ok; else bad "$1: stderr lacks [$2]: $(cat "$tmp/err")"; fi
}
stderr_lines() { # name, count
  local n; n=$(wc -l <"$tmp/err")
  if [ "$n" -eq "$2" ]; then ok; else bad "$1: $n lines on stderr (want $2): $(cat "$tmp/err")"; fi
}

w_openai="warning: provider openai: OPENAI_API_KEY is not set; requests routed to it will fail with 502"
w_anthropic="warning: provider anthropic: ANTHROPIC_API_KEY is not set; requests routed to it will fail with 502"
w_admin="warning: admin: TOLLGATE_ADMIN_TOKEN is not set; the admin API will refuse every request"
ok_defaults="config OK: embedded defaults, 2 providers, listen 127.0.0.1:8080, admin 127.0.0.1:8081, store sqlite:./var/tollgate.db"

# ---------------------------------------------------------------- valid configurations
expect defaults "$w_openai
$w_anthropic
$w_admin
$ok_defaults" 0 "$tg" check
stderr_is defaults-quiet ""

expect keys-set "$ok_defaults" 0 \
  env OPENAI_API_KEY=sk-TOPSECRET-1 ANTHROPIC_API_KEY=sk-ant-TOPSECRET-2 \
  TOLLGATE_ADMIN_TOKEN=TOPSECRET-3 "$tg" check
expect key-empty "warning: provider openai: OPENAI_API_KEY is empty; requests routed to it will fail with 502
$ok_defaults" 0 \
  env OPENAI_API_KEY= ANTHROPIC_API_KEY=x TOLLGATE_ADMIN_TOKEN=y "$tg" check

full_ok="config OK: $data/full.json, 3 providers, listen 0.0.0.0:9090, admin [::1]:9091, store sqlite:/tmp/tollgate-test/tollgate.db"
expect full "$full_ok" 0 env TG_TEST_OPENAI_KEY=a TG_TEST_ANTHROPIC_KEY=b \
  TG_TEST_ADMIN_TOKEN=c "$tg" check --config "$data/full.json"
expect full-eq-form "$full_ok" 0 env TG_TEST_OPENAI_KEY=a TG_TEST_ANTHROPIC_KEY=b \
  TG_TEST_ADMIN_TOKEN=c "$tg" check --config="$data/full.json"
expect full-warnings "warning: provider anthropic: TG_TEST_ANTHROPIC_KEY is not set; requests routed to it will fail with 502
$full_ok" 0 env TG_TEST_OPENAI_KEY=a TG_TEST_ADMIN_TOKEN=c "$tg" check --config "$data/full.json"

# the catalog and policy the config names are loaded and compiled, and summarised
expect full-routing "$full_ok" 0 env TG_TEST_OPENAI_KEY=a TG_TEST_ANTHROPIC_KEY=b \
  TG_TEST_ADMIN_TOKEN=c "$tg" check --config "$data/full.json"
if grep -qE '^catalog OK: sha256:[0-9a-f]{8}, [0-9]+ models$' "$tmp/out" &&
   grep -qF "policy OK: $data/policy.json, 2 rules, version test-1" "$tmp/out"; then ok
else bad "full-routing summary: $(cat "$tmp/out")"; fi
expect defaults-routing "$w_openai
$w_anthropic
$w_admin
$ok_defaults" 0 "$tg" check
if grep -qE '^policy OK: built-in, [0-9]+ rules, version ' "$tmp/out"; then ok
else bad "defaults-routing summary: $(cat "$tmp/out")"; fi

expect single-catalog "config OK: $data/single_catalog.json, 1 provider, listen 127.0.0.1:8080, admin 127.0.0.1:8081, store sqlite:./var/tollgate.db" 0 \
  env TOLLGATE_ADMIN_TOKEN=x "$tg" check --config "$data/single_catalog.json"

# TOLLGATE_STORE overrides "store"; a postgres password is never shown
expect store-env "config OK: $data/full.json, 3 providers, listen 0.0.0.0:9090, admin [::1]:9091, store sqlite:/tmp/x.db" 0 \
  env TOLLGATE_STORE=sqlite:/tmp/x.db TG_TEST_OPENAI_KEY=a TG_TEST_ANTHROPIC_KEY=b \
  TG_TEST_ADMIN_TOKEN=c "$tg" check --config "$data/full.json"
expect store-postgres "config OK: embedded defaults, 2 providers, listen 127.0.0.1:8080, admin 127.0.0.1:8081, store postgres://tg:***@db:5432/tollgate?..." 0 \
  env 'TOLLGATE_STORE=postgres://tg:TOPSECRET@db:5432/tollgate?sslpassword=TOPSECRET' \
  OPENAI_API_KEY=a ANTHROPIC_API_KEY=b TOLLGATE_ADMIN_TOKEN=c "$tg" check
expect store-postgres-nopw "config OK: embedded defaults, 2 providers, listen 127.0.0.1:8080, admin 127.0.0.1:8081, store postgresql://db/tollgate" 0 \
  env 'TOLLGATE_STORE=postgresql://db/tollgate' \
  OPENAI_API_KEY=a ANTHROPIC_API_KEY=b TOLLGATE_ADMIN_TOKEN=c "$tg" check
expect store-env-bad "" 1 env 'TOLLGATE_STORE=mysql://root:TOPSECRET@db' "$tg" check
stderr_is store-env-bad-says 'TOLLGATE_STORE (environment): expected "sqlite:PATH" or "postgres://..."'

# ---------------------------------------------------------------- problems
expect many "" 1 "$tg" check --config "$data/many_problems.json"
stderr_lines many-all-reported 18
stderr_has many-first "$data/many_problems.json: \$.lisen: unknown field (did you mean \"listen\"?)"
stderr_has many-format "$data/many_problems.json: \$.providers.openai.format: expected \"openai\" or \"anthropic\", got \"gcp\""
stderr_has many-limits "$data/many_problems.json: \$.limits.max_body_bytes: expected an integer from 1024 to 1073741824, got 12"
stderr_has many-default "$data/many_problems.json: \$.default_provider: names no provider: \"azure\" (providers: openai, local)"

expect syntax "" 1 "$tg" check --config "$data/syntax_error.json"
stderr_is syntax-says "$data/syntax_error.json: line 3, column 3: invalid JSON near '\"workers\": 2'"

expect inline-secret "" 1 "$tg" check --config "$data/inline_secret.json"
stderr_is inline-secret-says "$data/inline_secret.json: \$.providers.openai.api_key: secrets are never inline: put the key in an environment variable and name it in api_key_env"

expect bad-files "" 1 "$tg" check --config "$data/bad_files.json"
stderr_is bad-files-says "$data/missing.json: cannot read: No such file or directory
/nonexistent/tollgate/policy.json: cannot read: No such file or directory
$data/broken.txt: line 2, column 30: invalid JSON"

expect missing-config "" 1 "$tg" check --config "$tmp/nope.json"
stderr_is missing-config-says "$tmp/nope.json: cannot open: No such file or directory"

printf '{"listen": "127.0.0.1:8081"}' >"$tmp/clash.json"
expect port-clash "" 1 "$tg" check --config clash.json
stderr_is port-clash-says 'clash.json: $.listen: the public API and the admin API cannot share port 8081'

# Secrets: none of the values above may appear in any output.
for f in "$data/inline_secret.json" "$data/many_problems.json"; do
  "$tg" check --config "$f" >"$tmp/out" 2>"$tmp/err"
  if grep -q -e 'sk-NOT-A-REAL' -e 'hunter2' -e 'sk-live' -e 'sk-AbCdEf' "$tmp/out" "$tmp/err"
  then bad "secret echoed for $f: $(cat "$tmp/err")"; else ok; fi
done
env OPENAI_API_KEY=sk-TOPSECRET-1 'TOLLGATE_STORE=postgres://tg:TOPSECRET@db/x?p=TOPSECRET' \
  "$tg" check >"$tmp/out" 2>"$tmp/err"
if grep -q TOPSECRET "$tmp/out" "$tmp/err"; then bad "secret echoed: $(cat "$tmp/out")"; else ok; fi

# ---------------------------------------------------------------- usage
expect usage-unknown-option "" 2 "$tg" check --verbose
stderr_has usage-unknown-option-says "unknown option '--verbose'"
stderr_has usage-unknown-option-usage "usage: tollgate check [--config FILE]"
expect usage-positional "" 2 "$tg" check tollgate.json
stderr_has usage-positional-says "unexpected argument 'tollgate.json'"
expect usage-no-file "" 2 "$tg" check --config
stderr_has usage-no-file-says "--config needs a FILE"
expect usage-empty-file "" 2 "$tg" check --config=
stderr_has usage-empty-file-says "--config needs a FILE"
"$tg" check --help >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 0 ] && grep -q "usage: tollgate check" "$tmp/out"; then ok
else bad "help: exit $rc, stdout $(cat "$tmp/out")"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
