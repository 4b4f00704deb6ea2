#!/usr/bin/env bash
# make bench: run every bench/bench-*.sh in turn. RUNS=N sets the repetitions (median).
set -euo pipefail
cd "$(dirname "$0")"
for script in bench-*.sh; do
  echo "== ${script#bench-}"
  bash "$script"
done
