#!/usr/bin/env bash
# CLI contract of `tollgate teams` and `tollgate keys` (SPEC.md): outputs, the secret shown
# once and never again (not in lists, not in the store's files), --config and
# TOLLGATE_STORE, and exit codes 0 / 1 (user error, explained on stderr) / 2 (usage).
# Every run uses stores in a fresh temporary directory.
# usage: cli_teams_keys.sh PATH/TO/tollgate
set -u
tg=$1
case $tg in /*) ;; *) tg=$PWD/$tg ;; esac
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TOLLGATE_STORE="sqlite:$tmp/env/tollgate.db"

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# Times vary from run to run: compare them as TIME.
times() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g'; }

expect() { # name, expected stdout (times as TIME), expected exit code, command...
  local name=$1 want=$2 code=$3; shift 3
  local got rc
  got=$("$@" 2>"$tmp/err" | times; exit "${PIPESTATUS[0]}"); rc=$?
  if [ "$got" == "$want" ] && [ "$rc" == "$code" ]; then ok
  else bad "$name: exit $rc (want $code), stdout [$got] (want [$want]), stderr: $(cat "$tmp/err")"; fi
}
expect_re() { # name, extended regex the whole stdout must match, expected exit code, command...
  local name=$1 re=$2 code=$3; shift 3
  local got rc
  got=$("$@" 2>"$tmp/err"); rc=$?
  if [[ $got =~ $re ]] && [ "$rc" == "$code" ]; then ok
  else bad "$name: exit $rc (want $code), stdout [$got] (want /$re/), stderr: $(cat "$tmp/err")"; fi
}
stderr_has() { # name, text
  if grep -qF -- "$2" "$tmp/err"; then ok; else bad "$1: stderr lacks [$2]: $(cat "$tmp/err")"; fi
}
stderr_lacks() { # name, text
  if grep -qF -- "$2" "$tmp/err"; then bad "$1: stderr has [$2]"; else ok; fi
}

# ---------------------------------------------------------------- teams
expect add "added team 'ml': budget 100.00 USD, tokens 5000, period week" 0 \
  "$tg" teams add ml --budget-usd 100 --period week --tokens 5000
expect add-defaults "added team 'ops': budget none, tokens none, period month" 0 \
  "$tg" teams add ops
expect add-eq-form "added team 'web.1': budget 12.50 USD, tokens none, period day" 0 \
  "$tg" teams add web.1 --budget-usd=12.5 --period=day
expect add-nano "added team 'tiny': budget 0.000000001 USD, tokens 0, period month" 0 \
  "$tg" teams add tiny --budget-usd 0.000000001 --tokens 0
expect add-dup "" 1 "$tg" teams add ml
stderr_has add-dup-says "team 'ml' already exists"
expect add-bad-name "" 1 "$tg" teams add "bad name"
stderr_has add-bad-name-says "invalid team name"
expect add-long-name "" 1 "$tg" teams add "$(printf 'x%.0s' {1..65})"
for amount in 1e3 -5 "" " 1" abc 0.0000000001 9223372036.854775808; do
  expect "add-bad-money[$amount]" "" 1 "$tg" teams add x --budget-usd "$amount"
  stderr_has "add-bad-money[$amount]-names-flag" "--budget-usd"
done
stderr_has bad-money-range-says "too large"
expect add-bad-period "" 1 "$tg" teams add x --period year
stderr_has add-bad-period-says "--period: unknown period 'year'"
expect add-bad-tokens "" 1 "$tg" teams add x --tokens 1.5
stderr_has add-bad-tokens-says "--tokens"
expect add-unknown-flag "" 2 "$tg" teams add x --frobnicate
stderr_has add-unknown-flag-usage "usage: tollgate teams"
expect add-missing-value "" 2 "$tg" teams add x --budget-usd
expect add-no-name "" 2 "$tg" teams add
expect add-two-names "" 2 "$tg" teams add a b
expect add-dash-name "added team '-dash': budget none, tokens none, period month" 0 \
  "$tg" teams add -- -dash
expect teams-no-action "" 2 "$tg" teams
expect teams-unknown-action "" 2 "$tg" teams delete ml
expect_re teams-help "^usage: tollgate teams" 0 "$tg" teams --help
expect_re teams-add-help "^usage: tollgate teams" 0 "$tg" teams add -h
expect list "NAME   BUDGET_USD   TOKENS  REQUESTS  RPM  TPM  PERIOD  CREATED
-dash  -            -       -         -    -    month   TIME
ml     100.00       5000    -         -    -    week    TIME
ops    -            -       -         -    -    month   TIME
tiny   0.000000001  0       -         -    -    month   TIME
web.1  12.50        -       -         -    -    day     TIME" 0 "$tg" teams list
nolim='"budget_requests":null,"rpm":null,"tpm":null'
expect list-json '[{"name":"-dash","budget_usd":null,"budget_tokens":null,'"$nolim"',"period":"month","created_at":"TIME"},{"name":"ml","budget_usd":100.00,"budget_tokens":5000,'"$nolim"',"period":"week","created_at":"TIME"},{"name":"ops","budget_usd":null,"budget_tokens":null,'"$nolim"',"period":"month","created_at":"TIME"},{"name":"tiny","budget_usd":0.000000001,"budget_tokens":0,'"$nolim"',"period":"month","created_at":"TIME"},{"name":"web.1","budget_usd":12.50,"budget_tokens":null,'"$nolim"',"period":"day","created_at":"TIME"}]' 0 \
  "$tg" teams list --format json
expect list-bad-format "" 1 "$tg" teams list --format xml
expect list-extra-arg "" 2 "$tg" teams list ml
expect set-budget-none "updated team 'ml': budget none, tokens 5000, period week" 0 \
  "$tg" teams set ml --budget-usd none
expect set-more "updated team 'ml': budget 9223372036.854775807 USD, tokens none, period day" 0 \
  "$tg" teams set ml --budget-usd 9223372036.854775807 --tokens none --period day
expect set-unknown "" 1 "$tg" teams set ghost --budget-usd 1
stderr_has set-unknown-says "no team 'ghost'"
expect set-nothing "" 2 "$tg" teams set ml
expect set-bad-money "" 1 "$tg" teams set ml --budget-usd 1.5.0
stderr_has set-bad-money-says "--budget-usd"
expect set-unknown-flag "" 2 "$tg" teams set ml --colour red

# request and rate limits (issue 5): --requests, --rpm, --tpm on add and set
expect add-rates "added team 'rl': budget 5.00 USD, tokens none, requests 1000, rpm 60, tpm 90000, period day" 0 \
  "$tg" teams add rl --budget-usd 5 --period day --requests 1000 --rpm 60 --tpm 90000
expect set-rates "updated team 'rl': budget 5.00 USD, tokens 7, rpm 0, tpm 90000, period day" 0 \
  "$tg" teams set rl --requests none --rpm 0 --tokens 7
expect set-rates-only "updated team 'rl': budget 5.00 USD, tokens 7, rpm 0, period day" 0 \
  "$tg" teams set rl --tpm none
expect_re list-rates "rl +5\.00 +7 +- +0 +- +day " 0 "$tg" teams list
expect_re list-rates-json '"name":"rl","budget_usd":5\.00,"budget_tokens":7,"budget_requests":null,"rpm":0,"tpm":null,"period":"day"' 0 \
  "$tg" teams list --format json
for flag in --requests --rpm --tpm; do
  expect "add-bad[$flag]" "" 1 "$tg" teams add x "$flag" -1
  stderr_has "add-bad[$flag]-names-flag" "$flag"
  expect "set-bad[$flag]" "" 1 "$tg" teams set rl "$flag" 1.5
  stderr_has "set-bad[$flag]-names-flag" "$flag"
  expect "set-missing[$flag]" "" 2 "$tg" teams set rl "$flag"
done
expect_re teams-help-rates "--rpm N" 0 "$tg" teams --help

# ---------------------------------------------------------------- keys
secret=$("$tg" keys create --team ml --name "ci runner" --budget-usd 2.5 2>"$tmp/err"); rc=$?
if [ "$rc" == 0 ] && [[ $secret =~ ^tg-[0-9A-Za-z]{40}$ ]]; then ok
else bad "create: exit $rc, stdout [$secret], stderr: $(cat "$tmp/err")"; fi
stderr_has create-says "for team 'ml'"
stderr_lacks create-stderr-no-secret "$secret"
id=$(grep -oE 'key_[0-9a-f]{12}' "$tmp/err")
if [[ $id =~ ^key_[0-9a-f]{12}$ ]]; then ok; else bad "create: no key id on stderr"; fi
prefix=${secret:0:8}
secret2=$("$tg" keys create --team ops 2>/dev/null)
if [[ $secret2 =~ ^tg-[0-9A-Za-z]{40}$ ]] && [ "$secret2" != "$secret" ]; then ok
else bad "create-2: [$secret2]"; fi
expect create-no-team "" 2 "$tg" keys create
stderr_has create-no-team-says "--team is required"
expect create-unknown-team "" 1 "$tg" keys create --team ghost
stderr_has create-unknown-team-says "no team 'ghost'"
expect create-bad-money "" 1 "$tg" keys create --team ml --budget-usd 1e3
stderr_has create-bad-money-says "--budget-usd"
expect create-bad-label "" 1 "$tg" keys create --team ml --name "$(printf 'a\tb')"
expect create-positional "" 2 "$tg" keys create --team ml extra
expect keys-no-action "" 2 "$tg" keys
expect keys-unknown-action "" 2 "$tg" keys rotate
expect_re keys-help "^usage: tollgate keys" 0 "$tg" keys -h

expect_re list-keys "^ID +TEAM +NAME +PREFIX +BUDGET_USD +TOKENS +REQUESTS +RPM +TPM +CREATED +REVOKED +TAGS
$id +ml +ci runner +$prefix +2\.50 +- +- +- +- +[0-9TZ:-]+ +- +-
key_[0-9a-f]{12} +ops +- +tg-[0-9A-Za-z]{5} +- +- +- +- +- +[0-9TZ:-]+ +- +-$" 0 "$tg" keys list
expect list-keys-team-json "[{\"id\":\"$id\",\"team\":\"ml\",\"name\":\"ci runner\",\"prefix\":\"$prefix\",\"tags\":[],\"budget_usd\":2.50,\"budget_tokens\":null,\"budget_requests\":null,\"rpm\":null,\"tpm\":null,\"created_at\":\"TIME\",\"revoked_at\":null}]" 0 \
  "$tg" keys list --team ml --format json
# a key with every limit
secret3=$("$tg" keys create --team rl --budget-usd 0.5 --tokens 100 --requests 10 --rpm 2 --tpm 50 2>"$tmp/err"); rc=$?
if [ "$rc" == 0 ] && [[ $secret3 =~ ^tg-[0-9A-Za-z]{40}$ ]]; then ok; else bad "create-limits: exit $rc: $(cat "$tmp/err")"; fi
expect_re list-keys-limits "^key_[0-9a-f]{12} +rl +- +tg-[0-9A-Za-z]{5} +0\.50 +100 +10 +2 +50 +" 0 \
  sh -c "'$tg' keys list --team rl | tail -n 1"
expect_re list-keys-limits-json '"budget_usd":0\.50,"budget_tokens":100,"budget_requests":10,"rpm":2,"tpm":50,' 0 \
  "$tg" keys list --team rl --format json
# tags: kept, listed as a JSON array, refused when malformed
expect_re create-tags "^tg-" 0 "$tg" keys create --team rl --tags nightly,eu:west
expect_re list-tags-json '"tags":\["nightly","eu:west"\]' 0 "$tg" keys list --team rl --format json
expect create-bad-tag "" 1 "$tg" keys create --team rl --tags "a,,b"
stderr_has create-bad-tag-says "invalid tag ''"
expect create-none-limits "" 0 sh -c "'$tg' keys create --team rl --tokens none --rpm none >/dev/null"
for flag in --tokens --requests --rpm --tpm; do
  expect "create-bad[$flag]" "" 1 "$tg" keys create --team rl "$flag" x
  stderr_has "create-bad[$flag]-names-flag" "$flag"
done
expect_re keys-help-limits "--requests N" 0 "$tg" keys --help
expect list-keys-unknown-team "" 1 "$tg" keys list --team ghost
stderr_has list-keys-unknown-team-says "no team 'ghost'"
for args in "keys list" "keys list --format json" "teams list --format json"; do
  # shellcheck disable=SC2086
  out=$("$tg" $args 2>&1)
  if [[ $out == *"$secret"* || $out == *"${secret:8}"* ]]; then bad "[$args] shows the secret"; else ok; fi
done

expect key-set "updated key $id (team 'ml'): budget 0.75 USD, tokens none, rpm 7" 0 \
  "$tg" keys set "$id" --budget-usd 0.75 --rpm 7
expect key-set-clear "updated key $id (team 'ml'): budget none, tokens 99, rpm 7" 0 \
  "$tg" keys set "$id" --budget-usd none --tokens 99
expect key-set-nothing "" 2 "$tg" keys set "$id"
expect key-set-unknown "" 1 "$tg" keys set key_000000000000 --rpm 1
stderr_has key-set-unknown-says "no key 'key_000000000000'"
expect key-set-bad "" 1 "$tg" keys set "$id" --rpm -3
stderr_has key-set-bad-names-flag "--rpm"
expect revoke "revoked key $id (team 'ml') at TIME" 0 "$tg" keys revoke "$id"
expect revoke-again "" 0 "$tg" keys revoke "$id"
stderr_has revoke-again-says "already revoked"
expect revoke-unknown "" 1 "$tg" keys revoke key_000000000000
stderr_has revoke-unknown-says "no key 'key_000000000000'"
expect revoke-garbage "" 1 "$tg" keys revoke nonsense
stderr_has revoke-garbage-says "no key with that id"
expect revoke-no-id "" 2 "$tg" keys revoke
expect_re list-shows-revoked "^$id .* [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +-$" 0 \
  sh -c "'$tg' keys list --team ml | tail -n 1"

# the secret is nowhere in the store's files (database, WAL, shared memory)
found=0
for f in "$tmp"/env/*; do
  if grep -qF -- "$secret" "$f" || grep -qF -- "$secret2" "$f"; then found=1; fi
done
if [ "$found" == 0 ]; then ok; else bad "a secret is in the store's files"; fi

# ---------------------------------------------------------------- which store
printf '{"store": "sqlite:%s/cfg/t.db", "listen": "127.0.0.1:9"}\n' "$tmp" >"$tmp/config.json"
expect config-add "added team 'viaconfig': budget none, tokens none, period month" 0 \
  "$tg" teams add viaconfig --config "$tmp/config.json"
expect_re config-list "viaconfig" 0 "$tg" teams list --config "$tmp/config.json"
expect_re config-keys "^tg-" 0 "$tg" keys create --team viaconfig --config "$tmp/config.json"
out=$("$tg" teams list 2>&1)
if [[ $out == *web.1* && $out != *viaconfig* ]]; then ok; else bad "env store sees the config's store: [$out]"; fi
printf '{"listen": "127.0.0.1:9"}' >"$tmp/nostore.json"
expect_re config-without-store-uses-env "ml" 0 "$tg" teams list --config "$tmp/nostore.json"
expect config-missing "" 1 "$tg" teams list --config "$tmp/nope.json"
printf '{"store": ' >"$tmp/broken.json"
expect config-broken "" 1 "$tg" teams list --config "$tmp/broken.json"
stderr_has config-broken-says "not valid JSON"
printf '{"store": 7}' >"$tmp/badstore.json"
expect config-store-not-string "" 1 "$tg" keys list --config "$tmp/badstore.json"
stderr_has config-store-not-string-says '$.store'
expect pg-not-yet "" 1 env TOLLGATE_STORE=postgres://admin:hunter2@db/tg "$tg" teams list
stderr_lacks pg-no-password "hunter2"
expect unknown-scheme "" 1 env TOLLGATE_STORE=mysql://x "$tg" keys list
stderr_has unknown-scheme-says "store"
mkdir -p "$tmp/cwd"
expect default-store "added team 'd': budget none, tokens none, period month" 0 \
  sh -c "cd '$tmp/cwd' && env -u TOLLGATE_STORE '$tg' teams add d"
if [ -f "$tmp/cwd/var/tollgate.db" ]; then ok; else bad "default store ./var/tollgate.db not created"; fi
# eight processes at once on a new store: the first-open migration and the writes all wait
# for each other (WAL, busy timeout) instead of failing
for i in 1 2 3 4 5 6 7 8; do
  TOLLGATE_STORE="sqlite:$tmp/par/t.db" "$tg" teams add "p$i" >/dev/null 2>"$tmp/par$i.err" &
done
par_fail=0
for job in $(jobs -p); do wait "$job" || par_fail=1; done
n=$(TOLLGATE_STORE="sqlite:$tmp/par/t.db" "$tg" teams list | grep -c '^p[1-8] ')
if [ "$par_fail" == 0 ] && [ "$n" == 8 ]; then ok; else bad "parallel adds: $n teams, $(cat "$tmp"/par*.err)"; fi

expect_re main-help-lists-teams "  teams .*  keys " 0 "$tg" --help

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
