//! Fountain delivery (issue 30): `pktize --fountain` sends the data once, then repair
//! packets that never repeat; `unpktize` completes every block from any K of its packets
//! and stops by itself, at close to 1/(1-p) of the file's packets whatever it lost.

use crate::common;

use common::{bytes, run, sh, stderr};
use pktools::wire::Kind;

fn file_of(len: usize, seed: u64) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let data = bytes(len, seed);
    std::fs::write(&path, &data).unwrap();
    (dir, path, data)
}

fn report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Packets the receiver took (data and repair) over the file's data packets.
fn taken_share(r: &serde_json::Value, packets: u64) -> f64 {
    let c = &r["packets"];
    (c["intact"].as_u64().unwrap() + c["repair"].as_u64().unwrap()) as f64 / packets as f64
}

#[test]
fn an_endless_fountain_through_loss_ends_whole_to_a_file_and_to_stdout() {
    // 100-byte packets: 10000 of them, in 5 interleaved blocks of 2000.
    let (dir, f, data) = file_of(1_000_000, 1);
    let d = dir.path().display();
    for (out, to) in [
        (format!("-o {d}/got"), "file"),
        (format!("> {d}/got"), "stdout"),
    ] {
        let r = sh(&format!(
            "timeout 60 pktize -s 100 --fountain {} | corrupt --loss 20% --seed 3 | \
             unpktize {out} --report {d}/r.json; echo ${{PIPESTATUS[2]}} > {d}/rc",
            f.display()
        ));
        let rc = std::fs::read_to_string(dir.path().join("rc")).unwrap();
        assert_eq!(rc.trim(), "0", "{to}: {}", stderr(&r));
        assert!(
            std::fs::read(dir.path().join("got")).unwrap() == data,
            "{to}"
        );
        let rep = report(&dir.path().join("r.json"));
        assert_eq!(rep["intact"], true, "{to}");
        // Any K of a block's packets rebuild it: the receiver needs barely more packets
        // than the file has (a carousel needs several times as many at 20%).
        let share = taken_share(&rep, 10_000);
        assert!(
            (1.0..1.06).contains(&share),
            "{to}: took {share} of the packets"
        );
        assert!(rep["packets"]["recovered"].as_u64().unwrap() > 1500, "{to}");
    }
}

#[test]
fn a_receiver_that_joins_after_the_data_completes_from_repair_packets_alone() {
    let (dir, f, data) = file_of(300_000, 2);
    let stream = sh(&format!(
        "pktize -s 1000 --fountain --repeat 3 {}",
        f.display()
    ))
    .stdout;
    // Everything after the last data packet: descriptors and repair packets only.
    let packets = common::split_packets(&stream);
    let last_data = packets
        .iter()
        .rposition(|p| common::header(p).kind == Kind::Data)
        .unwrap();
    let late: Vec<u8> = packets[last_data + 1..].concat();
    assert!(packets[last_data + 1..]
        .iter()
        .any(|p| matches!(common::header(p).kind, Kind::Repair(_))));
    let got = dir.path().join("got");
    let out = run("unpktize", &["-o", got.to_str().unwrap()], &late);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read(&got).unwrap() == data);
}

#[test]
fn repair_packets_that_arrive_before_any_descriptor_are_kept() {
    // A late joiner whose first packets are repair packets: 300 packets, one block, and
    // exactly 300 repair symbols, the first 200 before any descriptor. The output can be
    // whole only if those 200 were kept until the descriptor came.
    let (dir, f, data) = file_of(300_000, 6);
    let key = dir.path().join("key");
    std::fs::write(&key, bytes(32, 10)).unwrap();
    let k = key.display();
    for (sender, receiver) in [
        (String::new(), String::new()),
        (format!("--key {k}"), format!("--key {k}")),
        (format!("--key {k} --encrypt"), format!("--key {k}")),
    ] {
        let stream = sh(&format!(
            "pktize -s 1000 {sender} --fountain --repeat 3 {}",
            f.display()
        ))
        .stdout;
        let packets = common::split_packets(&stream);
        let (repair, descriptors): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = packets
            .iter()
            .filter(|p| common::header(p).kind != Kind::Data)
            .partition(|p| matches!(common::header(p).kind, Kind::Repair(_)));
        assert!(repair.len() >= 300 && !descriptors.is_empty(), "{sender}");
        let mut late: Vec<u8> = repair[..200].iter().flat_map(|p| p.to_vec()).collect();
        late.extend_from_slice(descriptors[descriptors.len() - 1]);
        late.extend(repair[200..300].iter().flat_map(|p| p.to_vec()));
        let got = dir.path().join("got");
        let mut args = vec!["-o", got.to_str().unwrap()];
        args.extend(receiver.split_whitespace());
        let out = run("unpktize", &args, &late);
        assert_eq!(out.status.code(), Some(0), "{sender}: {}", stderr(&out));
        assert!(std::fs::read(&got).unwrap() == data, "{sender}");
    }
}

#[test]
fn repair_packets_never_repeat_until_the_symbol_space_is_spent() {
    let (_dir, f, _) = file_of(50_000, 3);
    // 50 packets of 1000 bytes: one block; 4 passes of repair.
    let stream = sh(&format!(
        "pktize -s 1000 --fountain --repeat 5 {}",
        f.display()
    ))
    .stdout;
    let mut seen = std::collections::HashSet::new();
    let mut repair = 0;
    for p in common::split_packets(&stream) {
        let h = common::header(&p);
        if let Kind::Repair(info) = h.kind {
            assert!(seen.insert((h.seq, info.repair_index)), "{h:?} sent twice");
            assert_eq!(h.offset, 50_000);
            repair += 1;
        }
    }
    assert_eq!(repair, 4 * 50);
}

#[test]
fn a_keyed_or_encrypted_fountain_completes_with_the_key() {
    let (dir, f, data) = file_of(200_000, 4);
    let key = dir.path().join("key");
    std::fs::write(&key, bytes(32, 9)).unwrap();
    let (k, d) = (key.display(), dir.path().display());
    for encrypt in ["", "--encrypt"] {
        let r = sh(&format!(
            "pktize -s 500 --key {k} {encrypt} --fountain --repeat 4 {} | \
             corrupt --loss 30% --seed 2 | unpktize --key {k} -o {d}/got --report {d}/r.json",
            f.display()
        ));
        assert_eq!(r.status.code(), Some(0), "{encrypt}: {}", stderr(&r));
        assert!(
            std::fs::read(dir.path().join("got")).unwrap() == data,
            "{encrypt}"
        );
        // The loss was repaired by the fountain's packets, every one of them authentic.
        let c = &report(&dir.path().join("r.json"))["packets"];
        assert!(c["recovered"].as_u64() > Some(100), "{encrypt}: {c}");
        assert_eq!(
            c["encrypted"].as_u64() > Some(0),
            !encrypt.is_empty(),
            "{c}"
        );
        assert_eq!(c["rejected"], 0, "{encrypt}: {c}");
    }
}

#[test]
fn a_reception_of_the_data_alone_resumes_from_a_fountain() {
    let (dir, f, data) = file_of(400_000, 5);
    let (f, d) = (f.display(), dir.path().display());
    let first = sh(&format!(
        "pktize --id 9 --fountain --repeat 1 {f} | corrupt --loss 30% --seed 1 | \
         unpktize -o {d}/got --report {d}/r.json"
    ));
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let again = sh(&format!(
        "pktize --id 9 --fountain --repeat 3 {f} | corrupt --loss 30% --seed 2 | \
         unpktize -o {d}/got --resume {d}/r.json --report {d}/r2.json"
    ));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(std::fs::read(dir.path().join("got")).unwrap() == data);
}

#[test]
fn fountain_refuses_fec_and_interleave() {
    for extra in ["--fec 8+2", "--interleave"] {
        let args: Vec<&str> = ["--fountain"].into_iter().chain(extra.split(' ')).collect();
        let out = run("pktize", &args, b"x");
        common::exits_saying(&out, 2, "--fountain");
    }
}

/// A relay that forwards datagrams from `listen` (joined when a multicast group) to
/// 127.0.0.1:`to`, dropping each with probability `loss` (seeded): the lossy link. The
/// script goes on once it listens.
fn relay(listen: &str, port: u16, to: u16, loss: f64, seed: u64) -> String {
    format!(
        r#"python3 -c '
import random, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("", {port}))
if int("{listen}".split(".")[0]) >= 224:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4s", socket.inet_aton("{listen}"), socket.inet_aton("127.0.0.1")))
open("/tmp/.relay-{port}-{to}-{seed}", "w").close()
o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r = random.Random({seed})
while True:
    d = s.recv(65536)
    if r.random() >= {loss}:
        o.sendto(d, ("127.0.0.1", {to}))
' > /dev/null 2>&1 &
ready=/tmp/.relay-{port}-{to}-{seed}
for _ in $(seq 400); do [ -e $ready ] && break; sleep 0.05; done
[ -e $ready ] || {{ echo "relay {port} to {to} not ready after 20 s" >&2; exit 1; }}
rm -f $ready"#
    )
}

/// Run `script` in a network namespace of its own (loopback only, fixed ports are free).
fn in_namespace(script: &str) -> std::process::Output {
    common::require_tool("unshare");
    common::require_tool("python3");
    let script = format!(
        "set -e\nip link set lo up\nip link set lo multicast on\n\
         ip route add 224.0.0.0/4 dev lo\n{wait}{script}",
        wait = common::WAIT_UDP_SH
    );
    sh(&format!(
        "unshare -n bash -o pipefail -c '{}'",
        script.replace('\'', r"'\''")
    ))
}

#[test]
fn a_fountain_over_built_in_udp_through_a_lossy_relay_ends_whole() {
    let (dir, f, data) = file_of(500_000, 6);
    let d = dir.path().display();
    let script = format!(
        "{relay}\n\
         (timeout 30 unpktize --udp 127.0.0.1:9502 --idle 5 -o {d}/got --report {d}/r.json; \
          echo $? > {d}/rc) &\nreceiver=$!\nwait_udp 9502\n\
         timeout 30 pktize --udp 127.0.0.1:9501 --rate 20M --fountain {f} &\n\
         wait $receiver\nkill $(jobs -p) 2>/dev/null || true\n",
        relay = relay("127.0.0.1", 9501, 9502, 0.2, 1),
        f = f.display()
    );
    let out = in_namespace(&script);
    let rc = std::fs::read_to_string(dir.path().join("rc")).unwrap_or_default();
    assert_eq!(rc.trim(), "0", "{}", stderr(&out));
    assert!(std::fs::read(dir.path().join("got")).unwrap() == data);
    let share = taken_share(&report(&dir.path().join("r.json")), 489);
    assert!(share < 1.1, "took {share} of the packets");
}

/// One sender, three receivers behind links of 1, 10 and 30% loss and one joined to the
/// group itself: each ends whole, by itself, having taken barely more packets than the
/// file has, so the sender sent about 1/(1-p) of them for each.
#[test]
fn one_fountain_to_multicast_receivers_with_their_own_losses_all_end_whole() {
    let (dir, f, data) = file_of(300_000, 7);
    let d = dir.path().display();
    let group = "239.255.42.2";
    let mut script = String::new();
    for (i, loss) in [(1, 0.01), (2, 0.10), (3, 0.30)] {
        script += &relay(group, 9600, 9600 + i, loss, i.into());
        script += &format!(
            "\n(timeout 30 unpktize --udp 127.0.0.1:{p} --idle 5 -o {d}/got{i} \
             --report {d}/r{i}.json; echo $? > {d}/rc{i}) &\n",
            p = 9600 + i
        );
    }
    script += &format!(
        "(timeout 30 unpktize --udp {group}:9600 --multicast-if 127.0.0.1 --idle 5 \
         -o {d}/got4 --report {d}/r4.json; echo $? > {d}/rc4) &\n\
         wait_udp 9601; wait_udp 9602; wait_udp 9603; wait_udp 9600 4\n\
         timeout 30 pktize --udp {group}:9600 --multicast-if 127.0.0.1 --ttl 1 --rate 10M \
         --fountain {f} &\nsender=$!\n\
         for i in 1 2 3 4; do while [ ! -e {d}/rc$i ]; do sleep 0.1; done; done\n\
         kill $sender; kill $(jobs -p) 2>/dev/null || true\n",
        f = f.display()
    );
    let out = in_namespace(&script);
    for i in 1..=4 {
        let rc = std::fs::read_to_string(dir.path().join(format!("rc{i}"))).unwrap_or_default();
        assert_eq!(rc.trim(), "0", "receiver {i}: {}", stderr(&out));
        assert!(
            std::fs::read(dir.path().join(format!("got{i}"))).unwrap() == data,
            "{i}"
        );
        let share = taken_share(&report(&dir.path().join(format!("r{i}.json"))), 293);
        assert!(share < 1.1, "receiver {i} took {share} of the packets");
    }
}

/// IPv6 both ways: unicast on loopback, and multicast to a link-local (ff02::) and a
/// site-local (ff15::) group on an interface that has a link-local address (a veth pair in
/// the namespace: loopback has none, and the kernel does not loop IPv6 multicast there),
/// named by --multicast-if or by the address's scope (`%v0`).
#[test]
fn a_fountain_over_ipv6_unicast_and_multicast_ends_whole() {
    let (dir, f, data) = file_of(200_000, 8);
    let d = dir.path().display();
    let mut script = String::from(
        "ip link add v0 type veth peer name v1\nip link set v0 up\nip link set v1 up\n\
         ip addr add fe80::1/64 dev v0 nodad\n",
    );
    let cases = [
        ("[::1]:9801", ""),
        ("[ff02::42]:9802", "--multicast-if v0"),
        ("[ff15::42]:9803", "--multicast-if v0"),
        ("[ff02::43%v0]:9804", ""),
    ];
    for (i, (addr, iface)) in cases.iter().enumerate() {
        let port = &addr[addr.len() - 4..];
        script += &format!(
            "(timeout 30 unpktize --udp '{addr}' {iface} --idle 5 -o {d}/got{i} -v \
             2> {d}/log{i}; echo $? > {d}/rc{i}) &\nreceiver=$!\nwait_udp {port}\n\
             timeout 30 pktize --udp '{addr}' {iface} --rate 20M --fountain --repeat 3 {f}\n\
             wait $receiver\n",
            f = f.display()
        );
    }
    let out = in_namespace(&script);
    for (i, (addr, _)) in cases.iter().enumerate() {
        let read = |name: &str| std::fs::read(dir.path().join(format!("{name}{i}")));
        let log = String::from_utf8_lossy(&read("log").unwrap_or_default()).into_owned();
        let rc = String::from_utf8(read("rc").unwrap_or_default()).unwrap();
        assert_eq!(rc.trim(), "0", "{addr}: {log} {}", stderr(&out));
        assert!(read("got").unwrap() == data, "{addr}");
        // Listening on IPv6: the address itself for unicast, any for a group.
        let listening = match i {
            0 => "listening on [::1]:9801",
            _ => "listening on [::]:980",
        };
        assert!(log.contains(listening), "{addr}: {log}");
    }
}

#[test]
fn an_ipv6_group_is_refused_an_ipv4_interface_address() {
    let out = run(
        "pktize",
        &["--udp", "[ff02::42]:9", "--multicast-if", "127.0.0.1"],
        b"x",
    );
    common::exits_saying(&out, 2, "named or numbered");
    let out = run(
        "unpktize",
        &["--udp", "[ff02::42]:0", "--multicast-if", "127.0.0.1"],
        b"",
    );
    common::exits_saying(&out, 2, "named or numbered");
    let out = run("pktize", &["--udp", "::1:9000"], b"x");
    common::exits_saying(&out, 2, "[::1]:9000");
}
