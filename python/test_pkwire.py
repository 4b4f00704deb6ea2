"""pkwire against the real programs: byte for byte against pktize, and through unpktize.

Run by the Rust integration suite (tests/it/wire_contract.rs), which sets PKTIZE and
UNPKTIZE to the binaries it built; by hand: PKTIZE=... UNPKTIZE=... python3 -m unittest
test_pkwire (from this directory). Keyed cases need the blake3 package (bin/deps
installs it); without it they fail, they are not skipped.
"""

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkwire  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PKTIZE = os.environ.get("PKTIZE", os.path.join(REPO, "target/test-release/pktize"))
UNPKTIZE = os.environ.get("UNPKTIZE", os.path.join(REPO, "target/test-release/unpktize"))
ID = 0x1234


def data_of(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


class Fixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.key_file = os.path.join(cls.dir.name, "key")
        with open(cls.key_file, "wb") as f:
            f.write(bytes(range(32)))
        cls.key = pkwire.Key(bytes(range(32)))

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def pktize(self, data: bytes, args, pipe=False) -> bytes:
        path = os.path.join(self.dir.name, "in.bin")
        with open(path, "wb") as f:
            f.write(data)
        cmd = [PKTIZE, "--id", hex(ID), *args] + ([] if pipe else [path])
        out = subprocess.run(cmd, input=data if pipe else None, capture_output=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def unpktize(self, stream: bytes, args=()):
        return subprocess.run([UNPKTIZE, *args], input=stream, capture_output=True)

    def same(self, ours: bytes, theirs: bytes, what: str):
        """Byte for byte; on a difference, the first packet that differs."""
        if ours == theirs:
            return
        a, b = pkwire.frames(ours), pkwire.frames(theirs)
        for n, (x, y) in enumerate(zip(a, b)):
            if (x.header, x.payload) != (y.header, y.payload):
                self.fail(f"{what}: packet {n} differs:\n ours   {x.header}\n pktize {y.header}")
        self.fail(f"{what}: {len(a)} packets against pktize's {len(b)}")


# Each case: data length, pktize's options, pkwire.packetize's arguments.
CASES = [
    (1, [], {}),
    (2, ["-s", "1"], dict(payload_len=1)),
    (5000, ["-s", "2"], dict(payload_len=2)),
    (9000, ["-s", "1023"], dict(payload_len=1023)),
    (9000, ["-s", "1024"], dict(payload_len=1024)),
    (9000, ["-s", "1025"], dict(payload_len=1025)),
    (200000, ["-s", "65475"], dict(payload_len=65475)),
    (0, [], {}),
    (3000, ["--describe-every", "2", "-s", "100", "--name", "x.ppm", "--type", "png"],
     dict(describe_every=2, payload_len=100, name="x.ppm", media_type=3)),
    (3000, ["--describe-every", "0"], dict(describe_every=0)),
    (3333, ["--fec", "1+1", "-s", "101"], dict(fec=(1, 1), payload_len=101)),
    (30000, ["--fec", "8+2"], dict(fec=(8, 2))),
    (40000, ["--fec", "32+4", "-s", "1023"], dict(fec=(32, 4), payload_len=1023)),
    (30001, ["--fec", "5+3", "-s", "1025"], dict(fec=(5, 3), payload_len=1025)),
    (4000, ["--fec", "3+5", "-s", "100"], dict(fec=(3, 5), payload_len=100)),
    (600, ["--fec", "100+20", "-s", "2"], dict(fec=(100, 20), payload_len=2)),
    (140000, ["--fec", "2+1", "-s", "65474"], dict(fec=(2, 1), payload_len=65474)),
    (0, ["--fec", "8+2"], dict(fec=(8, 2))),
    (7, ["--fec", "8+2"], dict(fec=(8, 2))),
    (40000, ["--interleave"], dict(interleave=True)),
    (40000, ["--interleave=7", "--fec", "8+2", "-s", "333"],
     dict(interleave=7, fec=(8, 2), payload_len=333)),
    (3000, ["--interleave", "--fec", "8+2"], dict(interleave=True, fec=(8, 2))),
    (1000, ["--interleave"], dict(interleave=True)),
    (40000, ["--repeat", "2"], dict(repeat=2)),
    (40000, ["--repeat", "3", "--interleave", "--fec", "4+2"],
     dict(repeat=3, interleave=True, fec=(4, 2))),
    (9000, ["--repeat", "2", "--interleave=5"], dict(repeat=2, interleave=5)),
]

PIPE_CASES = [
    (5000, [], {}),
    (0, [], {}),
    (100, ["-s", "10"], dict(payload_len=10)),
    (3000, ["--interleave"], dict(interleave=True)),
    (50000, ["--interleave=16", "--fec", "8+2"], dict(interleave=16, fec=(8, 2))),
]

KEYED_CASES = [
    (5000, [], {}),
    (0, [], {}),
    (30000, ["--fec", "8+2"], dict(fec=(8, 2))),
    (30000, ["--fec", "5+3", "-s", "999"], dict(fec=(5, 3), payload_len=999)),
    (20000, ["--repeat", "2", "--fec", "4+4"], dict(repeat=2, fec=(4, 4))),
    (70000, ["-s", "65451"], dict(payload_len=65451)),
]


_made = {}


def made(n: int) -> bytes:
    """What pkwire makes for CASES[n], made once for all the tests that use it."""
    if n not in _made:
        length, _, kw = CASES[n]
        kw = {"name": "in.bin", **kw}
        _made[n] = b"".join(pkwire.packetize(data_of(length, n), transfer_id=ID, **kw))
    return _made[n]


class ByteForByte(Fixture):
    def test_files(self):
        for n, (length, args, kw) in enumerate(CASES):
            with self.subTest(args=args, length=length):
                self.same(made(n), self.pktize(data_of(length, n), args), f"{length} bytes, {args}")

    def test_sniffed_media_types(self):
        magics = [b"P6\n", b"BM", b"\x89PNG", b"\xff\xd8\xff", b"YUV4MPEG2 W2 H2", b"P7\n", b"x"]
        for n, magic in enumerate(magics):
            with self.subTest(magic=magic):
                data = magic + data_of(3000, 300 + n)
                ours = b"".join(pkwire.packetize(data, transfer_id=ID, name="in.bin"))
                self.same(ours, self.pktize(data, []), f"sniffing {magic!r}")
                body = pkwire.frames(ours)[0].payload
                self.assertEqual(pkwire.Descriptor.parse(body).media_type, [1, 2, 3, 4, 5, 0, 0][n])

    def test_pipes(self):
        for n, (length, args, kw) in enumerate(PIPE_CASES):
            with self.subTest(args=args, length=length):
                data = data_of(length, 100 + n)
                theirs = self.pktize(data, args, pipe=True)
                ours = b"".join(pkwire.packetize(data, transfer_id=ID, from_pipe=True, **kw))
                self.same(ours, theirs, f"pipe, {length} bytes, {args}")

    def test_keyed(self):
        for n, (length, args, kw) in enumerate(KEYED_CASES):
            with self.subTest(args=args, length=length):
                data = data_of(length, 200 + n)
                theirs = self.pktize(data, args + ["--key", self.key_file])
                salt = pkwire.frames(theirs)[0].payload[-24:-16]
                ours = b"".join(
                    pkwire.packetize(
                        data, transfer_id=ID, name="in.bin", key=self.key, salt=salt, **kw
                    )
                )
                self.same(ours, theirs, f"keyed, {length} bytes, {args}")


class ThroughUnpktize(Fixture):
    """What pkwire makes, unpktize takes as intact (exit 0, the same bytes)."""

    def through(self, data, args=(), **kw):
        stream = b"".join(pkwire.packetize(data, transfer_id=ID, **kw))
        out = self.unpktize(stream, args)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, data)
        return stream

    def test_sizes_schemes_and_orders(self):
        for n, (length, _, kw) in enumerate(CASES):
            with self.subTest(length=length, kw=kw):
                out = self.unpktize(made(n))
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout, data_of(length, n))

    def test_keys_with_every_mode_and_interleaving_which_pktize_does_not_make(self):
        args = ["--key", self.key_file]
        for kw in [{}, dict(fec=(8, 2)), dict(interleave=True), dict(interleave=9, fec=(3, 2)),
                   dict(repeat=2, interleave=True, fec=(4, 1))]:
            with self.subTest(kw=kw):
                self.through(data_of(20000, 7), args, key=self.key, **kw)

    def test_a_lossy_stream_is_rebuilt_by_unpktize_from_pkwire_parity(self):
        data = data_of(64 * 1000, 9)
        packets = list(pkwire.packetize(data, transfer_id=ID, fec=(8, 2), payload_len=1000))
        # Lose two packets of every group of ten (data or parity).
        kept = [p for i, p in enumerate(packets) if i % 5 != 2]
        out = self.unpktize(b"".join(kept))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, data)

    def test_an_image_into_conceal(self):
        w, h = 64, 48
        image = b"P6\n%d %d\n255\n" % (w, h) + data_of(w * h * 3, 11)
        stream = self.through(image, ["--conceal"], name="x.ppm", fec=(4, 1))
        self.assertEqual(pkwire.frames(stream)[0].header.kind, pkwire.KIND_DESCRIPTOR)
        d = pkwire.Descriptor.parse(pkwire.frames(stream)[0].payload)
        self.assertEqual((d.media_type, d.name), (1, "x.ppm"))


class Reading(Fixture):
    """pktize's output read by pkwire."""

    def test_reassemble_pktize_output(self):
        for n, (length, args, _) in enumerate(CASES[:12]):
            with self.subTest(args=args, length=length):
                data = data_of(length, n)
                r = pkwire.reassemble(self.pktize(data, args))
                self.assertTrue(r.intact, r.lost)
                self.assertEqual(r.data, data)

    def test_keyed_pktize_output_needs_the_key(self):
        data = data_of(10000, 3)
        stream = self.pktize(data, ["--key", self.key_file, "--fec", "4+2"])
        r = pkwire.reassemble(stream, key=self.key)
        self.assertTrue(r.intact)
        self.assertEqual(r.data, data)
        self.assertFalse(pkwire.reassemble(stream).intact)
        forged = bytearray(stream)
        forged[-1] ^= 1  # the trailing descriptor's tag
        r = pkwire.reassemble(bytes(forged), key=self.key)
        self.assertEqual(r.data, data)

    def test_parity_rebuilds_what_a_damaged_channel_lost(self):
        data = data_of(50000, 4)
        stream = self.pktize(data, ["--fec", "5+3", "-s", "999"])
        found = pkwire.frames(stream)
        # Drop three of every group's eight packets, garble one byte of another, cut a
        # packet short, and put garbage between: framing finds the rest.
        damaged = bytearray()
        for i, f in enumerate(found):
            raw = stream[f.at : f.at + f.header.packet_len]
            if i % 8 in (1, 6):
                continue
            if i % 8 == 3:
                raw = raw[:40]
            damaged += raw + (b"pk\x01garbage" if i % 13 == 0 else b"")
        r = pkwire.reassemble(bytes(damaged))
        self.assertTrue(r.intact, r.lost)
        self.assertEqual(r.data, data)
        self.assertGreater(r.recovered, 0)
        out = self.unpktize(bytes(damaged))
        self.assertEqual((out.returncode, out.stdout), (0, data))

    def test_framing_skips_the_same_garbage_as_unpktize_in_a_corrupted_stream(self):
        corrupt = os.path.join(os.path.dirname(PKTIZE), "corrupt")
        stream = self.pktize(data_of(100000, 6), ["--fec", "8+2"])
        report = os.path.join(self.dir.name, "report.json")
        for seed in (4, 5):
            with self.subTest(seed=seed):
                args = ["--ber", "2e-5", "--truncate", "3%", "--seed", str(seed)]
                damaged = subprocess.run(
                    [corrupt, *args], input=stream, capture_output=True
                ).stdout
                self.unpktize(damaged, ["--report", report])
                with open(report) as f:
                    theirs = json.load(f)["bytes"]["garbage"]
                ours = sum(n for kind, n in pkwire.scan(damaged) if kind == "garbage")
                self.assertGreater(ours, 0)
                self.assertEqual(ours, theirs)

    def test_a_loss_parity_cannot_cover_is_reported_not_invented(self):
        data = data_of(9000, 5)
        found = pkwire.frames(self.pktize(data, ["--describe-every", "0", "--fec", "4+1"]))
        kept = [f for i, f in enumerate(found) if i not in (0, 1)]  # two of group 0
        r = pkwire.reassemble(b"".join(pkwire.encode_header(f.header) + f.payload for f in kept))
        self.assertFalse(r.intact)
        self.assertEqual(r.lost, [(0, 2048)])
        self.assertEqual(r.data[2048:], data[2048:])


class Parsing(Fixture):
    """What a reader refuses, as the page's Receiving and Finding packets say."""

    def test_an_unknown_kind_does_not_frame_and_counts_as_garbage_for_both(self):
        good = list(pkwire.packetize(b"x" * 3000, transfer_id=ID, describe_every=0))
        h = pkwire.parse_header(good[1])
        # The same header with kind 1, its check made right: still no packet.
        b = bytearray(pkwire.encode_header(h) + good[1][32:])
        b[3] = 1 << 4 | b[3] & 0xF
        b[6:8] = pkwire._header_check(bytes(b)).to_bytes(2, "big")
        with self.assertRaises(pkwire.WireError):
            pkwire.parse_header(b)
        stream = good[0] + bytes(b) + good[2]
        garbage = sum(n for kind, n in pkwire.scan(stream) if kind == "garbage")
        self.assertEqual(garbage, len(b))
        report = os.path.join(self.dir.name, "report.json")
        out = self.unpktize(stream, ["--report", report])
        self.assertEqual(out.returncode, 1, out.stderr)
        with open(report) as f:
            got = json.load(f)
        self.assertEqual(got["bytes"]["garbage"], garbage)
        self.assertEqual(got["packets"]["unused"], 0)

    def test_every_flipped_header_bit_is_caught(self):
        p = next(iter(pkwire.packetize(b"hello", transfer_id=ID, describe_every=0)))
        for bit in range(8 * 32):
            b = bytearray(p[:32])
            b[bit // 8] ^= 1 << bit % 8
            with self.assertRaises(pkwire.WireError, msg=f"bit {bit}"):
                pkwire.parse_header(b)

    def test_descriptors_a_receiver_ignores(self):
        body = pkwire.Descriptor(name="n", head=b"P6").encode()
        self.assertEqual(pkwire.Descriptor.parse(body).name, "n")
        for bad in [
            bytes([3]) + body[1:],  # body version
            body[:1] + bytes([6]) + body[2:],  # media type
            body[:7] + b"\xff" + body[8:],  # name not UTF-8
            body + b"\0",  # bytes after the end
            body[:-1],  # short
        ]:
            with self.assertRaises(pkwire.WireError):
                pkwire.Descriptor.parse(bad)


class Page(Fixture):
    """The vectors printed in pktize(5) are what pkwire makes."""

    def test_the_pages_hex_vectors(self):
        with open(os.path.join(REPO, "man", "pktize.5")) as f:
            page = f.read()
        vectors = dict(re.findall(r"\.\\\" vector (\S+)\n\.Bd -literal -offset indent\n(.*?)\.Ed", page, re.S))
        self.assertGreaterEqual(len(vectors), 5, vectors.keys())
        hexes = {k: bytes.fromhex(re.sub(r"(?m)^\d{7} ?", "", v).replace("\n", " ")) for k, v in vectors.items()}
        for name, want in hexes.items():
            with self.subTest(vector=name):
                self.assertEqual(make_vector(name, self.key), want)


def make_vector(name: str, key: pkwire.Key) -> bytes:
    """What pkwire makes for each vector the page prints (see the page for the inputs)."""
    if name == "data":
        return b"".join(pkwire.packetize(b"hello", transfer_id=0x1234, describe_every=0))
    if name == "descriptor":
        return next(iter(pkwire.packetize(b"hello", transfer_id=0x1234, name="h.txt")))
    if name == "parity-2+2":
        ps = list(pkwire.packetize(b"hello world!", transfer_id=0x1234, describe_every=0,
                                   payload_len=6, fec=(2, 2)))
        return b"".join(ps[2:])
    if name == "parity-2+1":
        ps = list(pkwire.packetize(b"\x01\x02\x03\x04\x10\x20\x30\x40", transfer_id=1,
                                   describe_every=0, payload_len=4, fec=(2, 1)))
        return ps[2]
    if name == "interleaved":
        ps = pkwire.packetize(bytes(range(8)), transfer_id=1, describe_every=0, payload_len=1,
                              interleave=True)
        return bytes(pkwire.parse_header(p).seq for p in ps)
    if name == "keyed":
        h = pkwire.Header(kind=pkwire.KIND_DATA, transfer_id=7, seq=3, offset=30,
                          total_len=100)
        return key.seal(h, b"pktools test data", bytes(range(1, 9)))
    raise KeyError(name)


if __name__ == "__main__":
    unittest.main()
