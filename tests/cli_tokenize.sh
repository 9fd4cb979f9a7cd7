#!/usr/bin/env bash
# CLI contract of `tollgate tokenize` (SPEC.md): outputs, --ids, --jsonl, encodings, and
# exit codes 0 / 1 (user error, explained on stderr) / 2 (usage).
# usage: cli_tokenize.sh PATH/TO/tollgate
set -u
tg=$1
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect() { # name, expected stdout, expected exit code, command...
  local name=$1 want=$2 code=$3; shift 3
  local got rc
  got=$("$@" 2>"$tmp/err"); rc=$?
  if [ "$got" == "$want" ] && [ "$rc" == "$code" ]; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL $name: exit $rc (want $code), stdout [$got] (want [$want]), stderr: $(cat "$tmp/err")"; fi
}
stderr_has() { # name, text
  if grep -q -- "$2" "$tmp/err"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: stderr lacks [$2]: $(cat "$tmp/err")"; fi
}

printf 'hello world' >"$tmp/hw"
expect count-default 2 0 "$tg" tokenize "$tmp/hw"
expect ids-cl100k "15339 1917" 0 "$tg" tokenize --ids "$tmp/hw"
expect ids-o200k "24912 2375" 0 "$tg" tokenize --encoding o200k_base --ids "$tmp/hw"
expect ids-eq-form "24912 2375" 0 "$tg" tokenize --encoding=o200k_base --ids "$tmp/hw"
expect stdin "15339 1917" 0 sh -c "printf 'hello world' | '$tg' tokenize --ids"
expect stdin-dash 2 0 sh -c "printf 'hello world' | '$tg' tokenize -"
expect empty "0" 0 sh -c "printf '' | '$tg' tokenize"
expect empty-ids "" 0 sh -c "printf '' | '$tg' tokenize --ids"
# special-token text is ordinary text: <|endoftext|> is several tokens, not 100257
expect special-plain "27 91 8862 728 428 91 29" 0 sh -c "printf '<|endoftext|>' | '$tg' tokenize --ids"
printf '"hello world"\n{"text":"hello world","id":7}\n""\n' >"$tmp/lines"
expect jsonl-count "$(printf '2\n2\n0')" 0 "$tg" tokenize --jsonl "$tmp/lines"
expect jsonl-ids "$(printf '15339 1917\n15339 1917\n')" 0 "$tg" tokenize --jsonl --ids "$tmp/lines"
printf '"ok"\n{"nottext":1}\n' >"$tmp/bad"
expect jsonl-bad "1" 1 "$tg" tokenize --jsonl "$tmp/bad"
stderr_has jsonl-bad-says-line ":2: expected a JSON string"
expect unknown-encoding "" 1 "$tg" tokenize --encoding p99k "$tmp/hw"
stderr_has unknown-encoding-says "unknown encoding 'p99k'"
expect missing-file "" 1 "$tg" tokenize "$tmp/nope"
stderr_has missing-file-says "No such file"
expect bad-option "" 2 "$tg" tokenize --frobnicate
expect two-files "" 2 "$tg" tokenize "$tmp/hw" "$tmp/hw"
expect no-command "" 2 "$tg"
expect unknown-command "" 2 "$tg" frobnicate
# invalid UTF-8 never fails: each bad byte is one "other" character
expect invalid-utf8 0 0 sh -c "printf 'a\\377\\376b' | '$tg' tokenize >/dev/null; echo \$?"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
