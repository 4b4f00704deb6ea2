#!/usr/bin/env bash
# The carousel table of the README: passes a receiver needs before its file is whole and
# it stops by itself, at several loss rates, counted from its report (data packets taken
# over those of a pass that get through); a 1 MiB file in 1 KiB packets (1024 packets),
# mean and worst over SEEDS seeds (default 5).
source "$(dirname "$0")/lib.sh"
SEEDS=${1:-5}
f=$WORK/f
head -c $((1 << 20)) /dev/urandom > "$f"
packets=1024
echo "| loss | passes (mean) | passes (worst) |"
echo "|---|---|---|"
for loss in 1% 5% 20% 50%; do
  passes=()
  for ((s = 1; s <= SEEDS; s++)); do
    pktize --repeat 0 "$f" 2>/dev/null | corrupt --loss $loss --seed $s 2>/dev/null |
      unpktize -o "$WORK/got" --report "$WORK/r.json" || true
    cmp -s "$WORK/got" "$f" || { echo "seed $s: not whole" >&2; exit 1; }
    # Data packets taken before it stopped, over the packets of a pass that get through.
    passes+=("$(python3 -c "import json; c=json.load(open('$WORK/r.json'))['packets']; \
      print((c['intact'] + c['duplicate'] + c['late']) / ($packets * (1 - ${loss%\%} / 100)))")")
  done
  python3 -c "import sys; p=[float(x) for x in sys.argv[1:]]; print(f'| $loss | {sum(p)/len(p):.1f} | {max(p):.1f} |')" "${passes[@]}"
done
