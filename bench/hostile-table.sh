#!/usr/bin/env bash
# Issue 35's before/after table: every reproduction of tests/it/hostile.rs (forged
# streams, run through a real pipe under /usr/bin/time) with its exit status, peak RSS and
# CPU time per input byte, against an honest stream of in-order largest payloads measured
# in the same run (goal: <= 16 MiB and within 3x of the honest stream's time per byte);
# then the carousel and resume timings of item 10 (goal: two passes at 25% loss within 2x
# of one pass, per byte of input) and the full disk of item 11.
#
# BEFORE=/path/to/bin (default /work/baseline-bin, else skipped) is the build compared
# with this tree's release binaries. The machine is shared: the load is printed, the
# carousel timings are medians of RUNS (default 5) interleaved runs.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEFORE=${BEFORE:-/work/baseline-bin}
[ -x "$BEFORE/unpktize" ] || BEFORE=
echo "load: $(uptime | sed 's/.*load average: //')"

# The reproductions: one line per measured run, "case: exit Some(N), peak RSS K KiB, CPU
# T s, B bytes out, I bytes in".
measure() {
  # With --nocapture a test's first line follows "test NAME ... ": cut that off.
  (cd "$ROOT" && env ${1:+PKTOOLS_LIMITS_UNPKTIZE=$1} cargo test --locked \
    --profile test-release --test it -- --test-threads=1 --nocapture hostile:: 2>&1 || true) |
    sed -E 's/^test [^ ]+ \.\.\. //' |
    grep -E ': exit .*, peak RSS .* KiB, CPU .* s, .* bytes out, .* bytes in$' || true
}
after=$WORK/after.txt
measure "" > "$after"
before=$WORK/before.txt
if [ -n "$BEFORE" ]; then measure "$BEFORE/unpktize" > "$before"; else : > "$before"; fi
python3 - "$before" "$after" <<'EOF'
import re, sys
pat = re.compile(r'^(.*): exit (\S+), peak RSS (\d+) KiB, CPU ([\d.]+) s, (\d+) bytes out, (\d+) bytes in$')
def load(path):
    rows = {}
    for line in open(path):
        m = pat.match(line.strip())
        if m:
            what, code, rss, cpu, out, inp = m.groups()
            code = code.replace('Some(', '').replace(')', '')
            rows.setdefault(what, (code, int(rss) / 1024, float(cpu), int(inp)))
    return rows
before, after = load(sys.argv[1]), load(sys.argv[2])
ref = after.get('honest stream, largest payloads')
ref_ns = ref[2] * 1e9 / ref[3] if ref and ref[3] and ref[2] > 0 else None
def cell(r):
    return f'{r[0]}, {r[1]:.1f}, {r[2]:.2f}' if r else '-'
def per_byte(r):
    # CPU is in hundredths of a second: too few of them say nothing per byte.
    # A case fed from a file, not through the pipe, has no input counted.
    return r[2] * 1e9 / r[3] if r and r[3] >= 2**20 and r[2] >= 0.05 else None
print()
print('| reproduction | input MiB | before: exit, MiB, CPU s | after: exit, MiB, CPU s | after ns/B (honest: x) |')
print('|---|---|---|---|---|')
for what, r in after.items():
    ns = per_byte(r)
    rel = f'{ns:.1f} ({ns / ref_ns:.1f}x)' if ns and ref_ns else '-'
    print(f'| {what} | {r[3] / 2**20:.1f} | {cell(before.get(what))} | {cell(r)} | {rel} |')
if ref_ns:
    print(f'\nhonest stream (largest payloads): {ref_ns:.2f} ns of CPU per input byte')
small = per_byte(after.get('honest stream, 1-byte payloads'))
if small:
    print(f'honest stream (1-byte payloads, the cases at -s 1): {small:.2f} ns per input byte')
EOF

# Item 10: a two-pass carousel at 25% loss against one pass, 100 and 200 MB in 1 KiB packets and
# 16 MB in 64-byte packets, into -o and to standard output (held, spilled past 8 MiB).
# CPU time: perf's task-clock where perf runs (a carousel's one pass is a few hundredths of
# a second, below /usr/bin/time's resolution), else user + system from /usr/bin/time.
cpu_once() { # CMD...: CPU seconds of one run
  if perf stat -x, -e task-clock true >/dev/null 2>&1; then
    perf stat -x, -e task-clock -o "$WORK/t" "$@" >/dev/null 2>&1 || true
    awk -F, '/task-clock/ {print $1 / 1000}' "$WORK/t"
  else
    /usr/bin/time -f '%U %S' -o "$WORK/t" "$@" >/dev/null 2>&1 || true
    awk '{print $1 + $2}' "$WORK/t" | tail -n 1
  fi
}
cpu_median() { # CMD...: median CPU seconds of $RUNS runs
  local i times=()
  for ((i = 0; i < RUNS; i++)); do
    times+=("$(cpu_once "$@")")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
echo
echo "| carousel, 25% loss | build | one pass CPU s | two passes CPU s | ratio | ratio per input byte |"
echo "|---|---|---|---|---|---|"
for spec in "100000000 1024" "200000000 1024" "16000000 64"; do
  read -r size payload <<<"$spec"
  head -c "$size" /dev/urandom > "$WORK/f"
  pktize -s "$payload" --id 3510 "$WORK/f" | corrupt --loss 25% --seed 1 > "$WORK/one.pk"
  pktize -s "$payload" --id 3510 --repeat 2 "$WORK/f" | corrupt --loss 25% --seed 1 > "$WORK/two.pk"
  in1=$(stat -c %s "$WORK/one.pk"); in2=$(stat -c %s "$WORK/two.pk")
  for dest in "-o" "stdout"; do
    for build in ${BEFORE:+"$BEFORE"} "$BIN"; do
      args=(); [ "$dest" = "-o" ] && args=(-o "$WORK/out")
      one=$(cpu_median "$build/unpktize" "${args[@]}" "$WORK/one.pk")
      two=$(cpu_median "$build/unpktize" "${args[@]}" "$WORK/two.pk")
      name=after; [ "$build" = "$BEFORE" ] && name=before
      python3 -c "o, t, i1, i2 = $one, $two, $in1, $in2
r = t / o if o else float('inf')
print(f'| {$size // 1000000} MB, -s $payload, $dest | $name | {o:.3f} | {t:.3f} | {r:.2f}x | {r * i1 / i2:.2f}x |')"
    done
  done
done

# Item 10: resume from a report of more holes than are kept (512 KiB in 1-byte packets,
# every other one lost: 262,144 holes, coarsened to 65,536 ranges), with a whole pass.
head -c 524288 /dev/urandom > "$WORK/f"
pktize -s 1 --id 3510 "$WORK/f" > "$WORK/whole.pk"
python3 - "$WORK/whole.pk" "$WORK/half.pk" "$ROOT/python" <<'EOF'
import sys
sys.path.insert(0, sys.argv[3])
import pkwire
buf = open(sys.argv[1], 'rb').read()
with open(sys.argv[2], 'wb') as out:
    for f in pkwire.frames(buf):
        if f.header.kind == 0 and f.header.offset % 2 == 1:
            continue
        out.write(buf[f.at:f.at + f.header.packet_len])
EOF
echo
echo "| resume, 262,144 holes on 512 KiB | build | first pass CPU s | resume CPU s | whole stream alone CPU s |"
echo "|---|---|---|---|---|"
for build in ${BEFORE:+"$BEFORE"} "$BIN"; do
  name=after; [ "$build" = "$BEFORE" ] && name=before
  first=$(cpu_median "$build/unpktize" -o "$WORK/out" --report "$WORK/r.json" "$WORK/half.pk")
  cp "$WORK/r.json" "$WORK/r0.json"; cp "$WORK/out" "$WORK/out0"
  times=()
  for ((i = 0; i < RUNS; i++)); do
    cp "$WORK/r0.json" "$WORK/r.json"; cp "$WORK/out0" "$WORK/out"
    times+=("$(cpu_once "$build/unpktize" -o "$WORK/out" \
      --resume "$WORK/r.json" --report "$WORK/r.json" "$WORK/whole.pk")")
  done
  cmp -s "$WORK/out" "$WORK/f" || echo "$name: resume did not end whole" >&2
  resume=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  alone=$(cpu_median "$build/unpktize" -o "$WORK/out" "$WORK/whole.pk")
  echo "| 512 KiB, -s 1 | $name | $first | $resume | $alone |"
done

# Item 11: a full disk on -o (a 4 MiB tmpfs in a mount namespace, 3.5 MiB taken): the
# report is there, and a resume once there is room ends whole.
head -c $((3 << 20)) /dev/urandom > "$WORK/f"
pktize --id 3511 "$WORK/f" > "$WORK/whole.pk"
corrupt --loss 5% --seed 11 < "$WORK/whole.pk" > "$WORK/lossy.pk"
echo
echo "| full disk on -o | build | exit | report in place | resumed whole |"
echo "|---|---|---|---|---|"
for build in ${BEFORE:+"$BEFORE"} "$BIN"; do
  name=after; [ "$build" = "$BEFORE" ] && name=before
  mkdir -p "$WORK/disk"
  flags=-m; [ "$(id -u)" = 0 ] || flags=-rm
  unshare $flags bash -c "
    cd '$WORK' && mount -t tmpfs -o size=4m none disk || exit 1
    head -c \$((3584 << 10)) /dev/zero > disk/filler
    '$build/unpktize' -o disk/out --report disk/r.json lossy.pk 2>/dev/null; echo \$? > rc
    [ -f disk/r.json ] && echo yes > report || echo no > report
    rm disk/filler
    '$build/unpktize' -o disk/out --resume disk/r.json whole.pk 2>/dev/null
    cmp -s disk/out f && echo yes > whole || echo no > whole" || true
  echo "| 3 MiB, 5% loss | $name | $(cat "$WORK/rc") | $(cat "$WORK/report") | $(cat "$WORK/whole") |"
done
