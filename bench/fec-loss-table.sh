#!/usr/bin/env bash
# The README's loss table: at which random packet loss rates a 10 MiB file still arrives
# intact (unpktize exits 0 and the output is byte-identical), without parity and with
# 8+2 and 32+4, over SEEDS seeded runs per cell, and the mean share of the file's bytes
# that had to be filled. Loss hits data and parity packets alike; the losses depend only
# on the seed, so the table is reproducible.  Usage: bash bench/fec-loss-table.sh [SEEDS]
source "$(dirname "$0")/lib.sh"

SEEDS=${1:-${SEEDS:-10}}
LOSSES=${LOSSES:-"0.001 0.01 0.02 0.05 0.10"}
SCHEMES=${SCHEMES:-"none 8+2 32+4"}
data=$WORK/data.bin
head -c $((10 << 20)) /dev/urandom > "$data"

printf '| loss |'
for s in $SCHEMES; do
  [ "$s" = none ] && printf ' no parity |' || printf ' --fec %s |' "$s"
done
printf '\n|---|'
for _ in $SCHEMES; do printf -- '---|'; done
printf '\n'
for loss in $LOSSES; do
  printf '| %s%% |' "$(awk -v l="$loss" 'BEGIN { print l * 100 }')"
  for s in $SCHEMES; do
    if [ "$s" = none ]; then pktize --id 1 "$data" > "$WORK/clean.pk"
    else pktize --id 1 --fec "$s" "$data" > "$WORK/clean.pk"; fi
    intact=0 filled=0
    for ((seed = 1; seed <= SEEDS; seed++)); do
      if drop_packets "$loss" "$seed" < "$WORK/clean.pk" |
        unpktize --report "$WORK/report.json" > "$WORK/out" 2>/dev/null &&
        cmp -s "$WORK/out" "$data"; then
        intact=$((intact + 1))
      fi
      lost=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"]["lost"])' \
        "$WORK/report.json")
      filled=$((filled + lost))
    done
    printf ' %d/%d (%s%% filled) |' "$intact" "$SEEDS" \
      "$(awk -v f="$filled" -v n="$SEEDS" 'BEGIN { printf "%.2f", 100 * f / n / (10 * 1048576) }')"
  done
  printf '\n'
done
