"""pkwire: a pure-Python reference of the pktools packet format, pktize(5).

Written from the manual page ``man/pktize.5`` alone, standard library only (the
``blake3`` package is needed for keyed packets only). It makes the packets that
``pktize`` makes (data, descriptors, parity, keyed; interleaved; carousels), finds and
checks packets in a damaged stream as ``unpktize`` does, and reassembles a transfer,
rebuilding lost data packets from parity.

It is a reference, not the fast path: a few MB/s (see the README).

Making packets::

    import pkwire
    for packet in pkwire.packetize(data, transfer_id=0x1234, fec=(8, 2)):
        sock.sendto(packet, ("127.0.0.1", 9000))

Reading them::

    result = pkwire.reassemble(stream_bytes)
    result.data, result.intact

Every packet is a ``bytes`` object holding header and payload, one datagram's worth.
"""

import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

__all__ = [
    "Header",
    "ParityInfo",
    "Descriptor",
    "Key",
    "WireError",
    "Frame",
    "Result",
    "encode_header",
    "parse_header",
    "packet",
    "sniff",
    "parity_coefficients",
    "encode_parity",
    "rebuild",
    "polyval",
    "send_order",
    "packetize",
    "scan",
    "frames",
    "reassemble",
]

# The header (pktize(5), DESCRIPTION).
MAGIC = b"pk"
VERSION = 1
SYNC = MAGIC + bytes([VERSION])
HEADER_LEN = 32
MAX_PAYLOAD = 65475
MAX_TOTAL_LEN = (1 << 48) - 1

KIND_DATA = 0
KIND_DESCRIPTOR = 2
KIND_PARITY = 3
KINDS = (KIND_DATA, KIND_DESCRIPTOR, KIND_PARITY)

FLAG_LAST = 0x1
FLAG_TOTAL_KNOWN = 0x2
FLAG_ODD = 0x4
FLAG_KEYED = 0x8

# Keyed packets.
SALT_LEN = 8
TAG_LEN = 16
TRAILER_LEN = SALT_LEN + TAG_LEN
KEY_MIN_LEN = 16
KEY_CONTEXT = "pktools 2026 packet tag v2"
HASH_KEY_CONTEXT = "pktools 2026 packet hash v2"

# Descriptors.
HEAD_MAX = 1024
NAME_MAX = 255
MEDIA_TYPES = ("raw", "pnm", "bmp", "png", "jpeg", "y4m")
DESC_INTERLEAVED = 0x1
DESC_CAROUSEL = 0x2

# Sending (pktize(1) defaults).
DEFAULT_PAYLOAD = 1024
DEFAULT_DESCRIBE_EVERY = 256
DEFAULT_INTERLEAVE_BYTES = 8 << 20
MAX_INTERLEAVE_BYTES = 64 << 20
MAX_INTERLEAVE_PACKETS = 1 << 16
FEC_MAX_PAYLOAD = 65474
MAX_GROUP_PACKETS = 256


class WireError(ValueError):
    """Bytes that are not what pktize(5) allows."""


def crc32(data) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParityInfo:
    """Bytes 22 to 27 of a parity header."""

    group_len: int  # K', data packets in this group
    parity_count: int  # M
    parity_index: int  # this packet's index, 0 to M-1
    group_size: int  # K
    last_len: int  # payload length of the group's last data packet


@dataclass(frozen=True)
class Header:
    """A header's fields. ``payload_len`` is the length on the wire (a keyed packet's
    trailer included); ``total_len`` is None without TOTAL_KNOWN."""

    kind: int
    transfer_id: int
    seq: int
    offset: int
    payload_len: int = 0
    total_len: Optional[int] = None
    payload_crc: int = 0
    last: bool = False
    keyed: bool = False
    odd: bool = False
    parity: Optional[ParityInfo] = None

    @property
    def data_len(self) -> int:
        """The payload's data: payload_len less a keyed packet's trailer."""
        return self.payload_len - (TRAILER_LEN if self.keyed else 0)

    @property
    def packet_len(self) -> int:
        return HEADER_LEN + self.payload_len

    def flags(self) -> int:
        f = 0
        if self.last:
            f |= FLAG_LAST
        if self.total_len is not None and self.kind != KIND_PARITY:
            f |= FLAG_TOTAL_KNOWN
        if self.odd:
            f |= FLAG_ODD
        if self.keyed:
            f |= FLAG_KEYED
        return f


def _header_check(b: bytes) -> int:
    return crc32(b[0:6] + b[8:32]) & 0xFFFF


def _fields(h: Header, payload_crc: int) -> bytearray:
    """The 32 header bytes with header_check zero."""
    if h.parity is not None:
        p = h.parity
        tail = struct.pack(
            ">BBBBH", p.group_len, p.parity_count, p.parity_index, p.group_size, p.last_len
        )
    else:
        tail = (h.total_len or 0).to_bytes(6, "big")
    b = bytearray(
        struct.pack(
            ">2sBBHHHIQ",
            MAGIC,
            VERSION,
            h.kind << 4 | h.flags(),
            h.payload_len,
            0,
            h.transfer_id,
            h.seq & 0xFFFFFFFF,
            h.offset,
        )
    )
    b += tail
    b += struct.pack(">I", payload_crc)
    return b


def encode_header(h: Header) -> bytes:
    """The header as sent: its fields, then the header check over all of them."""
    b = _fields(h, h.payload_crc)
    b[6:8] = struct.pack(">H", _header_check(b))
    return bytes(b)


def parse_header(b) -> Header:
    """Parse and validate the first 32 bytes of ``b`` as pktize(5), "Finding packets",
    says a reader must; raise WireError for a header a reader does not accept."""
    b = bytes(b[:HEADER_LEN])
    if len(b) < HEADER_LEN:
        raise WireError("short header")
    if b[0:3] != SYNC:
        raise WireError("no sync bytes")
    (kind_flags, payload_len, check, transfer_id, seq, offset) = struct.unpack(
        ">BHHHIQ", b[3:22]
    )
    raw_total = int.from_bytes(b[22:28], "big")
    (payload_crc,) = struct.unpack(">I", b[28:32])
    if check != _header_check(b):
        raise WireError("header check fails")
    kind, flags = kind_flags >> 4, kind_flags & 0xF
    if kind not in KINDS:
        raise WireError(f"unknown kind {kind}")
    if flags & FLAG_ODD and kind != KIND_PARITY:
        raise WireError("ODD set outside a parity packet")
    if payload_len > MAX_PAYLOAD:
        raise WireError(f"payload_len {payload_len} > {MAX_PAYLOAD}")
    keyed = bool(flags & FLAG_KEYED)
    if keyed and payload_len < TRAILER_LEN:
        raise WireError("keyed payload too short for its trailer")
    data_len = payload_len - TRAILER_LEN if keyed else payload_len
    total_known = bool(flags & FLAG_TOTAL_KNOWN)
    total = raw_total if total_known else None
    if keyed and kind != KIND_PARITY and not total_known and raw_total != 0:
        raise WireError("keyed header with total_len bytes but no TOTAL_KNOWN")
    parity = None
    odd = bool(flags & FLAG_ODD)
    if kind == KIND_PARITY:
        if total_known:
            raise WireError("TOTAL_KNOWN on a parity packet")
        parity = ParityInfo(b[22], b[23], b[24], b[25], int.from_bytes(b[26:28], "big"))
        ok = (
            data_len % 2 == 0
            and parity.last_len <= max(data_len - odd, 0)
            and (data_len > 0 or not odd)
            and 1 <= parity.group_len <= parity.group_size
            and parity.parity_count >= 1
            and parity.parity_index < parity.parity_count
        )
        if not ok:
            raise WireError("parity group fields out of bounds")
    if kind == KIND_DATA and total is not None and offset + data_len > total:
        raise WireError("data past total_len")
    if offset + payload_len >= 1 << 64:
        raise WireError("offset + payload_len overflows 64 bits")
    return Header(
        kind=kind,
        transfer_id=transfer_id,
        seq=seq,
        offset=offset,
        payload_len=payload_len,
        total_len=total,
        payload_crc=payload_crc,
        last=bool(flags & FLAG_LAST),
        keyed=keyed,
        odd=odd,
        parity=parity,
    )


def packet(h: Header, payload: bytes) -> bytes:
    """An unkeyed packet: ``h`` with payload_len and payload_crc of ``payload``."""
    h = _replace(h, payload_len=len(payload), payload_crc=crc32(payload), keyed=False)
    return encode_header(h) + bytes(payload)


def _replace(h: Header, **kw) -> Header:
    d = h.__dict__.copy()
    d.update(kw)
    return Header(**d)


# ---------------------------------------------------------------------------------------
# Descriptors
# ---------------------------------------------------------------------------------------


def sniff(head: bytes) -> int:
    """The media type pktize(1) gives data that starts with ``head``."""
    if len(head) >= 2 and head[0:1] == b"P" and b"1"[0] <= head[1] <= b"6"[0]:
        return 1
    if head[:2] == b"BM":
        return 2
    if head[:4] == b"\x89PNG":
        return 3
    if head[:3] == b"\xff\xd8\xff":
        return 4
    if head[:9] == b"YUV4MPEG2":
        return 5
    return 0


@dataclass
class Descriptor:
    """A descriptor body (pktize(5), Descriptor packets)."""

    media_type: int = 0
    payload_len: int = DEFAULT_PAYLOAD
    fec: Optional[Tuple[int, int]] = None
    name: str = ""
    head: bytes = b""
    interleave_span: Optional[int] = None
    carousel: bool = False

    def encode(self) -> bytes:
        name = self.name.encode("utf-8")
        if len(name) > NAME_MAX:
            name = name[:NAME_MAX]
            while True:  # cut at a character boundary
                try:
                    name.decode("utf-8")
                    break
                except UnicodeDecodeError:
                    name = name[:-1]
        head = bytes(self.head[:HEAD_MAX])
        k, m = self.fec or (0, 0)
        extended = self.interleave_span is not None or self.carousel
        out = bytearray([2 if extended else 1, self.media_type])
        out += struct.pack(">HBBB", self.payload_len, k, m, len(name)) + name
        out += struct.pack(">H", len(head)) + head
        if extended:
            flags = (DESC_INTERLEAVED if self.interleave_span is not None else 0) | (
                DESC_CAROUSEL if self.carousel else 0
            )
            out += struct.pack(">BI", flags, self.interleave_span or 0)
        return bytes(out)

    @classmethod
    def parse(cls, body: bytes) -> "Descriptor":
        """Parse a body as a receiver does (pktize(5), Receiving), or raise WireError."""
        body = bytes(body)
        try:
            version = body[0]
            if version not in (1, 2):
                raise WireError(f"descriptor body version {version}")
            media, (plen, k, m, nlen) = body[1], struct.unpack(">HBBB", body[2:7])
            name = body[7 : 7 + nlen]
            if len(name) != nlen:
                raise WireError("short descriptor")
            at = 7 + nlen
            (hlen,) = struct.unpack(">H", body[at : at + 2])
            if hlen > HEAD_MAX:
                raise WireError(f"head of {hlen} bytes")
            head = body[at + 2 : at + 2 + hlen]
            if len(head) != hlen:
                raise WireError("short descriptor")
            at += 2 + hlen
            flags, span = 0, 0
            if version == 2:
                flags, span = struct.unpack(">BI", body[at : at + 5])
                at += 5
        except (IndexError, struct.error):
            raise WireError("truncated descriptor") from None
        if at != len(body):
            raise WireError("bytes after the descriptor body")
        if flags & ~(DESC_INTERLEAVED | DESC_CAROUSEL):
            raise WireError("unknown descriptor flag")
        if media >= len(MEDIA_TYPES):
            raise WireError(f"unknown media type {media}")
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("name is not UTF-8") from None
        return cls(
            media_type=media,
            payload_len=plen,
            fec=(k, m) if k > 0 else None,
            name=name,
            head=head,
            interleave_span=span if flags & DESC_INTERLEAVED else None,
            carousel=bool(flags & DESC_CAROUSEL),
        )


# ---------------------------------------------------------------------------------------
# Parity: GF(2^16) in the Cantor basis, and the code's coefficients (pktize(5), Parity)
# ---------------------------------------------------------------------------------------

GF_POLYNOMIAL = 0x1002D
CANTOR_BASIS = (
    0x0001, 0xACCA, 0x3C0E, 0x163E, 0xC582, 0xED2E, 0x914C, 0x4012,
    0x6C98, 0x10D8, 0x6A72, 0xB900, 0xFDB8, 0xFB34, 0xFF38, 0x991E,
)  # fmt: skip
GF_MODULUS = 65535

_tables = None


def _field():
    """LOG[v] and EXP[l] for symbols v in the Cantor representation: symbol v stands for
    the sum of CANTOR_BASIS[i] over its set bits i, an element of GF(2)[x]/(0x1002d);
    EXP[LOG[a] + LOG[b]] is the symbol of the product. EXP has two periods, and LOG[0]
    points past them at zeros, so a product needs no test for zero."""
    global _tables
    if _tables is None:
        poly_log = [0] * 65536
        state = 1
        for i in range(GF_MODULUS):
            poly_log[state] = i
            state <<= 1
            if state & 0x10000:
                state ^= GF_POLYNOMIAL
        log = [0] * 65536
        exp = [0] * (2 * GF_MODULUS)
        poly = [0] * 65536
        for i in range(16):
            w = 1 << i
            for j in range(w):
                poly[j + w] = poly[j] ^ CANTOR_BASIS[i]
        for v in range(1, 65536):
            log[v] = poly_log[poly[v]]
            exp[log[v]] = v
            exp[log[v] + GF_MODULUS] = v
        zero = len(exp)
        exp += [0] * (zero + GF_MODULUS)
        log[0] = zero
        _tables = (exp, log)
    return _tables


def gf_mul(a: int, b: int) -> int:
    exp, log = _field()
    return exp[log[a] + log[b]]


def gf_inv(a: int) -> int:
    exp, log = _field()
    if a == 0:
        raise ZeroDivisionError("0 has no inverse")
    return exp[(GF_MODULUS - log[a]) % GF_MODULUS]


def _gf_div(a: int, b: int) -> int:
    return gf_mul(a, gf_inv(b))


def parity_coefficients(k: int, m: int) -> List[List[int]]:
    """c[i][j]: parity shard i is the sum over j of c[i][j] times data shard j, symbol by
    symbol. With k2, m2 the powers of two at or above K and M:
    high rate (k2 > m2, or k2 = m2 and K <= M): n = m2, data j at point m2 + j, parity i at
    point i, c[i][j] = ((m2 + j) >> log2 n) / ((m2 + j) ^ i);
    low rate (otherwise): n = k2, data j at point j, parity i at point k2 + i,
    c[i][j] = ((k2 + i) >> log2 n) / ((k2 + i) ^ j)."""
    k2 = 1 << (k - 1).bit_length()
    m2 = 1 << (m - 1).bit_length()
    high = k2 > m2 or (k2 == m2 and k <= m)
    n = m2 if high else k2
    bits = n.bit_length() - 1
    c = []
    for i in range(m):
        row = []
        for j in range(k):
            a, b = (m2 + j, i) if high else (k2 + i, j)
            row.append(_gf_div(a >> bits, a ^ b))
        c.append(row)
    return c


def _split(shard: bytes) -> Tuple[bytes, bytes]:
    """A shard's symbols as their low bytes and their high bytes: in each 64-byte block
    (or the shorter last one) the low bytes come first, then the high bytes."""
    lo, hi = bytearray(), bytearray()
    for o in range(0, len(shard), 64):
        blk = shard[o : o + 64]
        h = len(blk) // 2
        lo += blk[:h]
        hi += blk[h:]
    return bytes(lo), bytes(hi)


def _join(lo: bytes, hi: bytes) -> bytes:
    out = bytearray()
    for o in range(0, len(lo), 32):
        out += lo[o : o + 32] + hi[o : o + 32]
    return bytes(out)


def _symbols(shard: bytes) -> List[int]:
    """A shard's 16-bit symbols, in order."""
    lo, hi = _split(shard)
    return [a | b << 8 for a, b in zip(lo, hi)]


_multipliers = {}


def _multiplier(c: int):
    """Multiplication by ``c`` as four byte maps: a symbol's low byte and high byte each
    go to a low and a high byte of the product, which is their xor (the product is
    linear over GF(2)); ``bytes.translate`` then applies them to a whole shard."""
    if c not in _multipliers:
        lo = [gf_mul(c, b) for b in range(256)]
        hi = [gf_mul(c, b << 8) for b in range(256)]
        _multipliers[c] = (
            bytes(v & 0xFF for v in lo),
            bytes(v >> 8 for v in lo),
            bytes(v & 0xFF for v in hi),
            bytes(v >> 8 for v in hi),
        )
    return _multipliers[c]


def _int(b: bytes) -> int:
    return int.from_bytes(b, "little")


def _mul_add(acc: List[int], shard: Tuple[bytes, bytes], c: int) -> None:
    """acc (low bytes and high bytes as integers) += c times a split shard."""
    ll, lh, hl, hh = _multiplier(c)
    lo, hi = shard
    acc[0] ^= _int(lo.translate(ll)) ^ _int(hi.translate(hl))
    acc[1] ^= _int(lo.translate(lh)) ^ _int(hi.translate(hh))


def _unsplit(acc: List[int], n: int) -> bytes:
    return _join(acc[0].to_bytes(n, "little"), acc[1].to_bytes(n, "little"))


def encode_parity(shards: Sequence[bytes], k: int, m: int) -> List[bytes]:
    """The M parity shards of a group: ``shards`` are its K' <= K data shards of one even
    length S (payloads zero-padded to S); the missing ones are zeros."""
    if not shards or len(shards[0]) == 0:
        return [b""] * m
    c = parity_coefficients(k, m)
    data = [_split(s) for s in shards]
    n = len(data[0][0])
    out = []
    for i in range(m):
        acc = [0, 0]
        for j, d in enumerate(data):
            _mul_add(acc, d, c[i][j])
        out.append(_unsplit(acc, n))
    return out


def _solve(rows: List[List[int]]) -> Optional[List[List[int]]]:
    """Invert an e x e matrix over the field (Gauss-Jordan); None if singular."""
    e = len(rows)
    a = [r[:] + [1 if i == j else 0 for j in range(e)] for i, r in enumerate(rows)]
    for col in range(e):
        piv = next((r for r in range(col, e) if a[r][col]), None)
        if piv is None:
            return None
        a[col], a[piv] = a[piv], a[col]
        inv = gf_inv(a[col][col])
        a[col] = [gf_mul(x, inv) for x in a[col]]
        for r in range(e):
            if r != col and a[r][col]:
                f = a[r][col]
                a[r] = [x ^ gf_mul(f, y) for x, y in zip(a[r], a[col])]
    return [r[e:] for r in a]


def rebuild(
    k: int, m: int, data: Sequence[Optional[bytes]], parity: Sequence[Optional[bytes]]
) -> Optional[List[bytes]]:
    """The group's data shards (``data``: K' shards, None where lost; ``parity``: M
    shards, None where lost), or None when too few arrived. With e shards lost, e parity
    shards less what the arrived data gives them are e equations in the lost ones."""
    lost = [j for j, d in enumerate(data) if d is None]
    if not lost:
        return list(data)
    held = [i for i, p in enumerate(parity) if p is not None][: len(lost)]
    if len(held) < len(lost):
        return None
    c = parity_coefficients(k, m)
    inv = _solve([[c[i][j] for j in lost] for i in held])
    if inv is None:
        return None
    arrived = [(j, _split(d)) for j, d in enumerate(data) if d is not None]
    n = len(parity[held[0]]) // 2
    diffs = []
    for i in held:
        lo, hi = _split(parity[i])
        acc = [_int(lo), _int(hi)]
        for j, d in arrived:
            _mul_add(acc, d, c[i][j])
        diffs.append((acc[0].to_bytes(n, "little"), acc[1].to_bytes(n, "little")))
    out = list(data)
    for row, j in enumerate(lost):
        acc = [0, 0]
        for t, diff in enumerate(diffs):
            _mul_add(acc, diff, inv[row][t])
        out[j] = _unsplit(acc, n)
    return out


# ---------------------------------------------------------------------------------------
# Keyed packets
# ---------------------------------------------------------------------------------------

# POLYVAL (RFC 8452): GF(2^128) mod x^128 + x^127 + x^126 + x^121 + 1, little-endian.
_POLYVAL_R = (1 << 127) | (1 << 126) | (1 << 121) | 1


_POLYVAL_P = (1 << 128) | _POLYVAL_R


def _times_x(v: int) -> int:
    v <<= 1
    return v ^ _POLYVAL_P if v >> 128 else v


def _mulmod(a: int, b: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        a = _times_x(a)
        b >>= 1
    return r


_polyval_tables = {}


def _polyval_table(hkey: bytes):
    """For POLYVAL's dot(x, H) = x * H * x^-128: byte i of x (little-endian) with value v
    contributes table[i][v], reduced already, so a block costs 16 lookups."""
    if hkey not in _polyval_tables:
        # x^-128 = x^(2^128 - 1 - 128) in the field's multiplicative group.
        x_inv, base, e = 1, 2, (1 << 128) - 1 - 128
        while e:
            if e & 1:
                x_inv = _mulmod(x_inv, base)
            base = _mulmod(base, base)
            e >>= 1
        h = _mulmod(int.from_bytes(hkey, "little"), x_inv)
        table = []
        for _ in range(16):
            bits = []
            for _ in range(8):
                bits.append(h)
                h = _times_x(h)
            row = [0] * 256
            for v in range(1, 256):
                low = v & -v
                row[v] = row[v ^ low] ^ bits[low.bit_length() - 1]
            table.append(row)
        _polyval_tables[hkey] = table
    return _polyval_tables[hkey]


def polyval(hkey: bytes, data: bytes) -> bytes:
    """POLYVAL(hkey, data zero-padded to a multiple of 16 bytes), RFC 8452."""
    table = _polyval_table(bytes(hkey))
    s = 0
    data = bytes(data) + bytes(-len(data) % 16)
    for o in range(0, len(data), 16):
        x = (s ^ int.from_bytes(data[o : o + 16], "little")).to_bytes(16, "little")
        s = 0
        for row, v in zip(table, x):
            s ^= row[v]
    return s.to_bytes(16, "little")


def _blake3():
    try:
        import blake3
    except ImportError:
        raise RuntimeError("keyed packets need the blake3 package: pip install blake3") from None
    return blake3.blake3


class Key:
    """The packet keys of a secret (a key file's bytes, at least 16)."""

    def __init__(self, secret: bytes):
        if len(secret) < KEY_MIN_LEN:
            raise ValueError(f"a key needs at least {KEY_MIN_LEN} bytes")
        b3 = _blake3()
        self.prf = b3(secret, derive_key_context=KEY_CONTEXT).digest()
        self.hkey = b3(secret, derive_key_context=HASH_KEY_CONTEXT).digest()[:16]

    def tag(self, header0: bytes, salt: bytes, data: bytes) -> bytes:
        """The first 16 bytes of BLAKE3-keyed_hash(key, header0 || salt || digest)."""
        digest = polyval(self.hkey, data)
        return _blake3()(header0 + salt + digest, key=self.prf).digest()[:TAG_LEN]

    def seal(self, h: Header, data: bytes, salt: bytes) -> bytes:
        """The keyed packet of header ``h`` (as unkeyed) carrying ``data``."""
        h = _replace(h, keyed=True, payload_len=len(data) + TRAILER_LEN)
        header0 = bytes(_fields(h, 0))
        trailer = salt + self.tag(header0, salt, data)
        payload = bytes(data) + trailer
        return encode_header(_replace(h, payload_crc=crc32(payload))) + payload

    def open(self, h: Header, payload: bytes) -> Optional[bytes]:
        """The data of a keyed packet whose tag holds, else None."""
        if not h.keyed or len(payload) < TRAILER_LEN:
            return None
        data, salt, tag = payload[:-24], payload[-24:-16], payload[-16:]
        header0 = bytes(_fields(h, 0))
        return bytes(data) if self.tag(header0, salt, data) == tag else None


# ---------------------------------------------------------------------------------------
# Sending: what pktize(1) sends for an input
# ---------------------------------------------------------------------------------------


def send_order(n: int, stride: int, parity: int, pass_: int = 0):
    """The interleaved sending order of a span of ``n`` data packets in rows of ``stride``
    (K with FEC, else 1) with ``parity`` parity packets a row: a list of ('data', index in
    span) and ('parity', row, index)."""
    stride = max(stride, 1)
    rows = -(-n // stride)
    bits = (rows - 1).bit_length() if rows > 1 else 0
    order = []
    for i in range(1 << bits):
        r = int(format(i, f"0{bits}b")[::-1], 2) if bits else 0
        if r < rows:
            order.append(r)
    if rows > 0:
        turn = ((pass_ * 40503 * rows) & 0xFFFFFFFFFFFFFFFF) >> 16
        turn %= rows
        order = order[turn:] + order[:turn]
    out = []
    for column in range(stride + parity):
        col = (column + pass_) % stride if column < stride else column
        for row in order:
            if col < stride:
                index = row * stride + col
                if index < n:
                    out.append(("data", index))
            else:
                out.append(("parity", row, col - stride))
    return out


def interleave_span(
    payload_len: int, interleave, fec: Optional[Tuple[int, int]], packets: Optional[int]
) -> Optional[int]:
    """The span pktize(1) announces (None: sent in order). ``interleave`` is True for the
    default span or a number of packets; ``packets`` the input's data packets, None when
    unknown (a pipe that had not ended within the first span)."""
    if not interleave:
        return None
    cap = min(max(MAX_INTERLEAVE_BYTES // payload_len, 1), MAX_INTERLEAVE_PACKETS)
    want = DEFAULT_INTERLEAVE_BYTES // payload_len if interleave is True else int(interleave)
    want = min(max(want, 1), cap)
    if packets is not None:
        want = min(want, max(packets, 1))
    k = fec[0] if fec else 1
    span = -(-want // k) * k
    return span if span > k else None


class _Group:
    """The FEC encoder's state: the current group's shards."""

    def __init__(self, k: int, m: int, payload_len: int, transfer_id: int):
        self.k, self.m, self.p, self.id = k, m, payload_len, transfer_id
        self.shards: List[bytes] = []
        self.group = 0
        self.group_offset = 0
        self.offset = 0

    def add(self, payload: bytes, last: bool) -> List[Tuple[Header, bytes]]:
        """The group's parity packets (header, shard) when ``payload`` completes it."""
        single = not self.shards and last
        data_len = len(payload) if single else self.p
        s = data_len + (data_len & 1)
        self.shards.append(bytes(payload) + bytes(s - len(payload)))
        self.offset += len(payload)
        if len(self.shards) < self.k and not last:
            return []
        group_len = len(self.shards)
        parity = encode_parity(self.shards, self.k, self.m)
        out = []
        for i, shard in enumerate(parity):
            info = ParityInfo(group_len, self.m, i, self.k, len(payload))
            h = Header(
                kind=KIND_PARITY,
                transfer_id=self.id,
                seq=self.group,
                offset=self.group_offset,
                last=last,
                odd=s != data_len,
                parity=info,
            )
            out.append((h, shard))
        self.shards = []
        self.group = (self.group + 1) & 0xFFFFFFFF
        self.group_offset = self.offset
        return out


def packetize(
    data: bytes,
    payload_len: int = DEFAULT_PAYLOAD,
    transfer_id: int = 0,
    describe_every: Optional[int] = DEFAULT_DESCRIBE_EVERY,
    name: str = "",
    media_type: Optional[int] = None,
    fec: Optional[Tuple[int, int]] = None,
    interleave=None,
    repeat: int = 1,
    key: Optional[Key] = None,
    salt: Optional[bytes] = None,
    from_pipe: bool = False,
) -> Iterator[bytes]:
    """The packets ``pktize`` sends for ``data``, in its order, one ``bytes`` each.

    The arguments are pktize(1)'s options: ``-s``, ``--id``, ``--describe-every`` (0 or
    None: no descriptors), ``--name``, ``--type`` (an index of MEDIA_TYPES; None sniffs),
    ``--fec K+M`` as (K, M), ``--interleave`` (True, or a span in packets), ``--repeat``
    (a count), ``--key`` (a Key; ``salt`` is 8 bytes, random if not given).
    ``from_pipe`` gives what pktize sends reading a pipe rather than a file: data packets
    without the total length (the final descriptor states it). At payloads under 1024
    bytes pktize's descriptors from a pipe hold what it had read (pktize(5)): this gives
    what it sends when its first read holds the first 1024 bytes. Unlike pktize, keys and
    interleaving may go together: the format allows it and unpktize takes it.
    """
    if not 1 <= payload_len <= MAX_PAYLOAD:
        raise ValueError(f"payload_len must be 1 to {MAX_PAYLOAD}")
    if key is not None and payload_len > MAX_PAYLOAD - TRAILER_LEN:
        raise ValueError("a keyed payload leaves room for its 24-byte trailer")
    if fec is not None:
        k, m = fec
        if not (1 <= k <= 255 and 1 <= m <= 255 and k + m <= MAX_GROUP_PACKETS):
            raise ValueError("K and M are 1 to 255, K + M at most 256")
        if payload_len > FEC_MAX_PAYLOAD:
            raise ValueError(f"with FEC payload_len is at most {FEC_MAX_PAYLOAD}")
    if key is not None and salt is None:
        import os

        salt = os.urandom(SALT_LEN)
    if repeat == 1 and from_pipe:
        total = None
    else:
        total = len(data)
    if repeat != 1:
        from_pipe = False  # a carousel holds its input: the total is known
    p = payload_len
    count = max(-(-len(data) // p), 1)
    packets_known = count if not from_pipe or len(data) <= _first_span_bytes(
        p, interleave, fec
    ) else None
    span = interleave_span(p, interleave, fec, packets_known)
    head = bytes(data[:HEAD_MAX])
    describe = bool(describe_every)
    every = max(describe_every or 0, 1)
    desc = Descriptor(
        media_type=sniff(head) if media_type is None else media_type,
        payload_len=p,
        fec=fec,
        name=name,
        head=head,
        interleave_span=span,
        carousel=repeat != 1,
    ).encode()
    state = {"dseq": 0, "total": total}

    def seal(h: Header, payload: bytes) -> bytes:
        return packet(h, payload) if key is None else key.seal(h, payload, salt)

    def descriptor() -> bytes:
        h = Header(
            kind=KIND_DESCRIPTOR,
            transfer_id=transfer_id,
            seq=state["dseq"],
            offset=0,
            total_len=state["total"],
        )
        state["dseq"] = (state["dseq"] + 1) & 0xFFFFFFFF
        return seal(h, desc)

    def payload_at(i: int) -> bytes:
        return bytes(data[i * p : (i + 1) * p])

    def data_packet(i: int) -> bytes:
        pl = payload_at(i)
        h = Header(
            kind=KIND_DATA,
            transfer_id=transfer_id,
            seq=i & 0xFFFFFFFF,
            offset=i * p,
            total_len=total,
            last=i + 1 == count,
        )
        return seal(h, pl)

    for pass_ in range(repeat) if repeat else iter(int, 1):
        since = every  # a descriptor goes first
        group = _Group(fec[0], fec[1], p, transfer_id) if fec else None
        if span is None:
            for i in range(count):
                if describe and since >= every:
                    yield descriptor()
                    since = 0
                yield data_packet(i)
                if group:
                    for h, shard in group.add(payload_at(i), i + 1 == count):
                        yield seal(h, shard)
                if describe:
                    since += 1
                    if i + 1 == count:
                        state["total"] = len(data)
                        yield descriptor()
                        since = 0
            continue
        for base in range(0, count, span):
            n = min(span, count - base)
            parity = []
            if group:
                for i in range(n):
                    parity += [group.add(payload_at(base + i), base + i + 1 == count)]
                parity = [g for g in parity if g]
            stride, m = (fec[0], fec[1]) if fec else (1, 0)
            for slot in send_order(n, stride, m, pass_):
                if slot[0] == "data":
                    if describe and since >= every:
                        yield descriptor()
                        since = 0
                    yield data_packet(base + slot[1])
                    since += 1
                else:
                    h, shard = parity[slot[1]][slot[2]]
                    yield seal(h, shard)
        if describe:
            state["total"] = len(data)
            yield descriptor()


def _first_span_bytes(p: int, interleave, fec) -> int:
    """Bytes a pipe's sender reads before it sends: the first span, when interleaving."""
    span = interleave_span(p, interleave, fec, None)
    return span * p if span else 0


# ---------------------------------------------------------------------------------------
# Reading: finding packets in a stream (pktize(5), Finding packets)
# ---------------------------------------------------------------------------------------


@dataclass
class Frame:
    """A packet found in a stream: its header, the payload bytes present, whether they
    match the header's length and CRC, and whether the packet was cut short."""

    header: Header
    payload: bytes
    intact: bool
    truncated: bool
    at: int


def _valid_at(buf: bytes, at: int) -> Optional[Header]:
    try:
        return parse_header(buf[at : at + HEADER_LEN])
    except WireError:
        return None


def scan(buf: bytes) -> Iterator[Tuple[str, object]]:
    """Everything in a whole stream, in order: ('packet', Frame) or ('garbage', length)."""
    buf = bytes(buf)
    at, garbage = 0, 0
    end = len(buf)
    while at < end:
        h = _valid_at(buf, at) if buf.startswith(SYNC, at) else None
        if h is None:
            nxt = buf.find(SYNC, at + 1)
            nxt = end if nxt < 0 else nxt
            garbage += nxt - at
            at = nxt
            continue
        if garbage:
            yield ("garbage", garbage)
            garbage = 0
        stated = at + h.packet_len
        payload = buf[at + HEADER_LEN : min(stated, end)]
        if stated <= end and crc32(payload) == h.payload_crc:
            yield ("packet", Frame(h, payload, True, False, at))
            at = stated
            continue
        # A valid header inside the claimed payload: this packet was cut there.
        cut = None
        p = buf.find(SYNC, at + HEADER_LEN, min(stated, end) + len(SYNC) - 1)
        while 0 <= p < min(stated, end):
            if _valid_at(buf, p) is not None:
                cut = p
                break
            p = buf.find(SYNC, p + 1, min(stated, end) + len(SYNC) - 1)
        if cut is not None:
            yield ("packet", Frame(h, buf[at + HEADER_LEN : cut], False, True, at))
            at = cut
        else:
            yield ("packet", Frame(h, payload, False, stated > end, at))
            at = min(stated, end)
    if garbage:
        yield ("garbage", garbage)


def frames(buf: bytes) -> List[Frame]:
    """The packets of a whole stream (garbage skipped)."""
    return [f for kind, f in scan(buf) if kind == "packet"]


# ---------------------------------------------------------------------------------------
# Reassembling
# ---------------------------------------------------------------------------------------


@dataclass
class Result:
    """A reassembled transfer. ``intact``: every byte arrived or was rebuilt, and the
    length is known; ``lost`` lists the (offset, length) ranges that did not."""

    transfer_id: Optional[int] = None
    data: bytes = b""
    intact: bool = False
    total_len: Optional[int] = None
    lost: List[Tuple[int, int]] = field(default_factory=list)
    descriptor: Optional[Descriptor] = None
    packets: int = 0
    damaged: int = 0
    recovered: int = 0
    rejected: int = 0


def reassemble(
    stream: bytes, transfer_id: Optional[int] = None, key: Optional[Key] = None
) -> Result:
    """Reassemble the first transfer in ``stream`` (or the one of ``transfer_id``): place
    every intact data packet at its offset, rebuild lost ones from parity, and say what is
    still missing. With ``key``, only packets whose tag holds and whose salt is the
    transfer's first count; without, keyed packets are passed over."""
    r = Result(transfer_id=transfer_id)
    pieces = {}  # offset -> payload
    parity = {}  # (group offset) -> {index: (header, shard)}
    salt = None
    total = None
    end_known = None
    for f in frames(stream):
        h = f.header
        if r.transfer_id is None:
            r.transfer_id = h.transfer_id
        if h.transfer_id != r.transfer_id:
            continue
        if not f.intact:
            r.damaged += 1
            continue
        payload = f.payload
        if h.keyed != (key is not None):
            r.rejected += 1
            continue
        if key is not None:
            data = key.open(h, payload)
            if data is None or (salt is not None and payload[-24:-16] != salt):
                r.rejected += 1
                continue
            salt = payload[-24:-16]
            payload = data
        r.packets += 1
        if h.kind == KIND_DESCRIPTOR:
            try:
                d = Descriptor.parse(payload)
            except WireError:
                continue
            r.descriptor = r.descriptor or d
            if h.total_len is not None and total is None:
                total = h.total_len
        elif h.kind == KIND_DATA:
            pieces[h.offset] = payload
            if h.total_len is not None:
                total = h.total_len
            if h.last:
                end_known = h.offset + len(payload)
        else:
            parity.setdefault(h.offset, {})[h.parity.parity_index] = (h, payload)
    length = end_known if end_known is not None else total
    # Rebuild what parity can.
    for offset, held in parity.items():
        h0 = next(iter(held.values()))[0]
        info = h0.parity
        p = h0.data_len - (1 if h0.odd else 0)
        lens = [p] * (info.group_len - 1) + [info.last_len]
        offs = [offset + j * p for j in range(info.group_len)]
        data = [pieces.get(o) for o in offs]
        if all(d is not None for d in data):
            continue
        s = h0.data_len
        shards = [None if d is None else d + bytes(s - len(d)) for d in data]
        shards_parity = [held.get(i, (None, None))[1] for i in range(info.parity_count)]
        got = rebuild(info.group_size, info.parity_count, shards, shards_parity)
        if got is None:
            continue
        for j, d in enumerate(data):
            if d is None:
                pieces[offs[j]] = got[j][: lens[j]]
                r.recovered += 1
        if h0.last:
            end_known = offs[-1] + lens[-1]
            length = end_known
    if length is None:
        length = max((o + len(v) for o, v in pieces.items()), default=0)
    out = bytearray(length)
    lost, covered = [], 0
    for o in sorted(pieces):
        v = pieces[o][: max(length - o, 0)]
        out[o : o + len(v)] = v
        if o > covered:
            lost.append((covered, o - covered))
        covered = max(covered, o + len(v))
    if covered < length:
        lost.append((covered, length - covered))
    r.data = bytes(out)
    r.total_len = length if (end_known is not None or total is not None) else None
    r.lost = lost
    r.intact = not lost and r.total_len is not None
    return r
