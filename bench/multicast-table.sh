#!/usr/bin/env bash
# One fountain sender, three multicast receivers, each with its own loss (issue 30): in a
# network namespace of its own, `pktize --fountain --udp GROUP` sends a SIZE MiB file
# (default 16) at RATE (default 5M); three relays joined to the group forward to one
# `unpktize --udp` each, dropping 1%, 10% and 30% of the datagrams at random (a kernel
# without netem drops no datagram by itself on loopback, and iptables cannot drop per
# socket). Each receiver stops by itself once its file is whole. Per receiver, over the
# packets of one plain pass: the packets it took (data, repair, descriptors), and what the
# sender sent until it stopped, taken / (1 - the share its relay dropped), against
# 1/(1-p) (the relay's own count runs on past the receiver's stop, until it notices).
# Usage: multicast-table.sh [SIZE_MIB] [RATE]
source "$(dirname "$0")/lib.sh"
SIZE=${1:-16}
RATE=${2:-5M}
command -v unshare >/dev/null || { echo "multicast-table: unshare is not installed: skipped"; exit 0; }
f=$WORK/file
head -c $((SIZE << 20)) /dev/urandom > "$f"
pktize "$f" | unpktize -o /dev/null --report "$WORK/plain.json" || true
plain=$(python3 -c "import json; c = json.load(open('$WORK/plain.json'))['packets']; print(c['intact'] + c['descriptors'])")

# The relay: forwards datagrams from the group to 127.0.0.1:TO, dropping each with
# probability LOSS; until the receiver's exit status appears in DONE, counts what it saw,
# then writes the count to COUNT.
cat > "$WORK/relay.py" <<'EOF'
import os, random, socket, struct, sys
group, port, to, loss, seed, done, count, ready = sys.argv[1:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 24)  # SO_RCVBUFFORCE
s.bind(("", int(port)))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("127.0.0.1")))
s.settimeout(0.2)
open(ready, "w").close()
o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r, seen, dropped = random.Random(int(seed)), 0, 0
while not os.path.exists(done):
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    seen += 1
    if r.random() >= float(loss):
        o.sendto(d, ("127.0.0.1", int(to)))
    else:
        dropped += 1
open(count, "w").write(f"{seen} {dropped}")
EOF

unshare -n bash -c '
set -eu
W=$1 f=$2 rate=$3
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
group=239.255.42.9
for i in 1 2 3; do
  loss=$(echo "1 0.01 0.10 0.30" | cut -d" " -f$((i + 1)))
  rm -f "$W/ready$i" "$W/rc$i" "$W/count$i"
  python3 "$W/relay.py" $group 9600 $((9600 + i)) "$loss" "$i" "$W/rc$i" "$W/count$i" "$W/ready$i" &
  (unpktize --udp 127.0.0.1:$((9600 + i)) --idle 60 -o "$W/got$i" --report "$W/r$i.json"; echo $? > "$W/rc$i") &
done
for i in 1 2 3; do
  for _ in $(seq 400); do [ -e "$W/ready$i" ] && break; sleep 0.05; done
done
pktize --udp $group:9600 --multicast-if 127.0.0.1 --ttl 1 --rate "$rate" --fountain "$f" &
sender=$!
for i in 1 2 3; do while [ ! -e "$W/count$i" ]; do sleep 0.1; done; done
kill $sender
' _ "$WORK" "$f" "$RATE"

echo "$SIZE MiB, one sender at $RATE, three multicast receivers (load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "| receiver's loss | 1/(1-p) | dropped by its relay | sent until it stopped / plain pass | taken / plain pass | whole |"
echo "|---|---|---|---|---|---|"
for i in 1 2 3; do
  loss=$(echo "0 1 10 30" | cut -d' ' -f$((i + 1)))
  whole=no
  cmp -s "$f" "$WORK/got$i" && [ "$(cat "$WORK/rc$i")" = 0 ] && whole=yes
  python3 -c "
import json
c = json.load(open('$WORK/r$i.json'))['packets']
taken = c['intact'] + c['repair'] + c['descriptors']
seen, dropped = map(int, open('$WORK/count$i').read().split())
dealt = dropped / seen
print(f'| $loss% | {1 / (1 - $loss / 100):.3f} | {100 * dealt:.1f}% | {taken / (1 - dealt) / $plain:.3f} | {taken / $plain:.3f} | $whole |')"
done
