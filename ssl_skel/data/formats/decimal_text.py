"""Exact, vectorised conversion of plain decimal tokens (`-12.345`, `0`, `+.5`) in a text buffer.

Why: NTU's `.skeleton` files hold about 30,000 numbers each, and converting them one by one (Python's
float, or NumPy's loadtxt) is most of the time a conversion of the release takes. Here all tokens of a
file are converted at once with 64-bit integer arithmetic on 16-byte windows (SWAR: several bytes per
machine word).

Exactness: a token of at most 15 digits, at most one dot and an optional leading sign is the integer
m < 10**15 (its digits without the dot) divided by 10**k (k digits after the dot). Both are exact
float64 values, so the one IEEE division m / 10**k is correctly rounded, which is what a correctly
rounded decimal reader (Python's float, NumPy's loadtxt, C's strtod) returns. Other tokens (exponents,
longer ones, malformed ones) are reported in `ok` and left to the caller.

Requires that every byte of the buffer is ASCII (< 0x80): the per-byte tests below rely on no byte
carrying into its neighbour.
"""

from __future__ import annotations

import numpy as np

WINDOW = 16  # bytes per token window; tokens longer than this are left to the caller
MAX_DIGITS = 15  # m < 10**15 < 2**53: exact as float64

_U = np.uint64
_ALL = 0xFFFFFFFFFFFFFFFF


def _rep(byte: int) -> np.uint64:
    return _U(byte * 0x0101010101010101)


_ONES, _HIGH, _FF = _rep(0x01), _rep(0x80), _U(0xFF)
_ZERO_CHAR, _BELOW_TEN, _DOT, _NONZERO = _rep(0x30), _rep(0x76), _rep(0x2E), _rep(0x7F)
# The window w holds bytes j = 0..15 (w0: j < 8, w1: j >= 8); masks keeping the last t bytes (j >= 16 - t):
_LAST0 = np.array([0 if t <= 8 else (_ALL << (8 * (16 - t))) & _ALL for t in range(WINDOW + 1)], np.uint64)
_LAST1 = np.array([(_ALL << (8 * (8 - t))) & _ALL if t < 8 else _ALL for t in range(WINDOW + 1)], np.uint64)
# per byte: its place from the right end of the window (15 for j = 0 ... 0 for j = 15)
_PLACE0 = _U(sum((15 - j) << (8 * j) for j in range(8)))
_PLACE1 = _U(sum((7 - j) << (8 * j) for j in range(8)))
_POW10 = 10.0 ** np.arange(WINDOW + 1)


def _byte_sum(v: np.ndarray) -> np.ndarray:
    """Sum of the 8 bytes of each word (each sum must stay below 256)."""
    return (v * _ONES) >> _U(56)


def _eight_digits(x: np.ndarray) -> np.ndarray:
    """Eight digit values (0..9), most significant in the lowest byte -> their integer."""
    x = x * _U(10) + (x >> _U(8))
    x &= _U(0x00FF00FF00FF00FF)
    x = x * _U(100) + (x >> _U(16))
    x &= _U(0x0000FFFF0000FFFF)
    x = x * _U(10000) + (x >> _U(32))
    return x & _U(0xFFFFFFFF)


def _classify(w: np.ndarray, inside: np.ndarray, place: np.uint64) -> tuple[np.ndarray, ...]:
    """Of the `inside` bytes of w: digit values (other bytes 0), per byte digit + 16 * dot (0, 1 or 16), and
    the dot's place (0 elsewhere)."""
    x = w ^ _ZERO_CHAR  # a digit byte becomes its value 0..9, every other ASCII byte is >= 10
    digit = ((_HIGH ^ ((x + _BELOW_TEN) & _HIGH)) & inside) >> _U(7)  # 1 in each byte that is a digit
    dot = (~((w ^ _DOT) + _NONZERO) & _HIGH & inside) >> _U(7)  # 1 in each byte that is "."
    return x & (digit * _FF), digit + (dot << _U(4)), (dot * _FF) & place


def parse_decimals(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of the tokens buf[starts[i]:ends[i]] as float64, and `ok`: True where the value is exact.

    buf: ASCII bytes with at least 16 bytes before the first token (pad with spaces). A token is ok when
    it is [+-]digits[.digits] (either digit run may be empty, not both) with at most 15 digits and at
    most 16 bytes; its value then equals float(token) bit for bit. Other tokens get arbitrary values.
    """
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    if len(ends) and (starts.min() < WINDOW or ends.max() > len(buf)):
        raise ValueError("parse_decimals: every token needs 16 bytes before it inside the buffer")
    words = np.ndarray((max(len(buf) - 7, 0),), np.uint64, buf, 0, (1,))  # an 8-byte word at every offset
    w0, w1 = words[ends - 16], words[ends - 8]  # the 16 bytes that end where the token ends
    length = ends - starts
    last = np.minimum(length, WINDOW)
    d0, c0, p0 = _classify(w0, _LAST0[last], _PLACE0)
    d1, c1, p1 = _classify(w1, _LAST1[last], _PLACE1)
    # per byte at most 32, over 16 bytes below 256 unless all 16 are dots (then no digit: not ok)
    counts = _byte_sum(c0 + c1)
    digits, dots = counts & _U(15), counts >> _U(4)
    first = np.frombuffer(buf, np.uint8)[starts]
    signed = (first == 45) | (first == 43)
    # every byte is a digit, the dot or the leading sign:
    ok = (digits >= 1) & (digits <= MAX_DIGITS) & (dots <= 1) & (digits + dots + signed == length) & (length <= WINDOW)
    dotted = dots == 1
    frac = np.where(dotted, _byte_sum(p0 + p1), _U(0)).astype(np.intp)  # digits after the dot = the dot's place
    keep = np.where(dotted, frac, WINDOW)  # bytes after the dot stay; those before move one place right
    f0, f1 = _LAST0[keep], _LAST1[keep]
    a0, a1 = d0 & ~f0, d1 & ~f1
    m0 = (a0 << _U(8)) | (d0 & f0)
    m1 = (a1 << _U(8)) | (a0 >> _U(56)) | (d1 & f1)
    m = _eight_digits(m0) * _U(100_000_000) + _eight_digits(m1)
    values = m.astype(np.float64) / _POW10[frac]
    np.negative(values, out=values, where=first == 45)
    return values, ok


def token_bounds(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the whitespace-separated tokens of buf (bytes <= 0x20 separate)."""
    a = np.frombuffer(buf, np.uint8)
    sep = np.empty(len(a) + 2, bool)
    sep[0] = sep[-1] = True
    np.less_equal(a, 32, out=sep[1:-1])
    edges = np.flatnonzero(sep[:-1] != sep[1:])
    return edges[0::2], edges[1::2]
