#!/bin/sh
# run.sh FUZZER CORPUS SECONDS ARTIFACTS: runs a libFuzzer target for a
# bounded time over its committed corpus (read only: new inputs go to a
# temporary directory).  A crash leaves its input in ARTIFACTS and fails.
set -u
fuzzer=$1 corpus=$2 seconds=$3 artifacts=$4
mkdir -p "$artifacts" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" "$tmp" "$corpus"
