#!/usr/bin/env bash
# README command 1: install what is missing, build, and start tollgate on its embedded
# defaults.  The proxy (`tollgate serve`) is not built yet; until it is, this runs the parts
# that exist: the built-in tokenizer and the request token counter on a sample request.
#
# usage: bash deploy/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
tg=build/proxy/tollgate
"$tg" --help
echo
echo '$ echo "Hello from tollgate, the cost-aware LLM proxy." | tollgate tokenize --ids'
echo "Hello from tollgate, the cost-aware LLM proxy." | "$tg" tokenize --ids
echo '$ tollgate count tests/data/count/cookbook_messages.json'
"$tg" count tests/data/count/cookbook_messages.json
