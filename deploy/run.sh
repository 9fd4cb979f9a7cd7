#!/usr/bin/env bash
# README command 1: install what is missing, build, and start tollgate on its embedded
# defaults: public API on 127.0.0.1:8080, admin API on 127.0.0.1:8081, SQLite store under
# ./var, vendor keys from OPENAI_API_KEY / ANTHROPIC_API_KEY, admin token from
# TOLLGATE_ADMIN_TOKEN.  Runs in the foreground until Ctrl-C (SIGINT) or SIGTERM.
#
# usage: bash deploy/run.sh [serve options, e.g. --config FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
exec build/proxy/tollgate serve "$@"
