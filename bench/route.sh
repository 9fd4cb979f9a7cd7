#!/usr/bin/env bash
# Routing decision benchmark: 200 rules x 300 models by default (issue 4's target: under
# 20 us per decision on the 2-core test machine), beside the policy match alone and the
# prompt-token count of the same request.  Needs a build in ./build.
#
# usage: bash bench/route.sh [NMODELS [NRULES]]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
ninja -C "$build" bench/bench_route >/dev/null
"$build/bench/bench_route" "$@"
