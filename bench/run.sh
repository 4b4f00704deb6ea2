#!/usr/bin/env bash
# make bench: run every bench/bench-*.sh in turn (RUNS=N sets the repetitions of the
# timed ones, median), then the README's loss tables: carousel passes to completion,
# bursts with and without interleaving, bytes lost with and without parity, the fountain,
# and issue 35's before/after table of forged streams (BEFORE=dir of an older build).
set -euo pipefail
cd "$(dirname "$0")"
for script in bench-*.sh; do
  echo "== ${script#bench-}"
  bash "$script"
done
for table in passes-table.sh burst-table.sh fec-loss-table.sh video-table.sh fountain-table.sh \
  hostile-table.sh; do
  echo "== ${table%.sh}"
  bash "$table"
done
# The combination test of tests/it/combos.rs, with many more sampled cases than CI runs
# (COMBOS=N sets how many; each failure prints its seed and the pipeline to reproduce it).
echo "== combinations"
(cd .. && PKTOOLS_COMBOS="${COMBOS:-2000}" cargo test --locked --profile test-release --test it -- combos)
