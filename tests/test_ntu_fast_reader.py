"""The fast `.skeleton` path and the streamed NTU conversion give exactly what the checking reader and a
naive in-memory conversion give: same values bit for bit, same errors, same bytes on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.data.formats import ntu
from ssl_skel.data.formats.common import check_rows, parallel_map
from ssl_skel.data.formats.decimal_text import parse_decimals, token_bounds
from ssl_skel.data.formats.ntu_skeleton import (
    SkeletonFile,
    SkeletonParseError,
    _parse_plain,
    parse_skeleton_text,
    read_skeleton,
)
from ssl_skel.data.storage import content_digest

FIXTURES = Path(__file__).parent / "fixtures" / "ntu"


# --------------------------------------------------------------------------- generated files
def _value(rng: np.random.Generator, scale: float) -> str:
    """A joint value in one of the notations seen in files: %g of 7 digits, long, exponent, integer, -0."""
    kind = rng.integers(10)
    x = rng.normal() * scale
    if kind == 0:
        return f"{x:.17g}"
    if kind == 1:
        return f"{x * 1e-6:.6e}"
    if kind == 2:
        return str(int(x))
    if kind == 3:
        return rng.choice(["0", "-0", "-0.000", "+1.5", ".5", "5."])
    return f"{x:.7g}"


def skeleton_text(rng: np.random.Generator, frames: list[list[int]], newline: str = "\r\n") -> str:
    """A file in the official layout; frames[t] lists the body IDs of frame t (empty: no body)."""
    lines = [str(len(frames))]
    for ids in frames:
        lines.append(str(len(ids)))
        for body_id in ids:
            lines.append(f"{body_id} 0 1 1 0 0 0 {rng.normal():.7g} {rng.normal():.7g} 2")
            lines.append("25")
            for _ in range(25):
                values = [_value(rng, 1.0) for _ in range(3)] + [_value(rng, 500.0) for _ in range(8)]
                lines.append(" ".join(values + [str(rng.integers(0, 3))]))
    return newline.join(lines) + newline


def _frames_pattern(rng: np.random.Generator, n: int, two: bool, noise: bool) -> list[list[int]]:
    base = 72057594037927936 + int(rng.integers(1000))
    frames = []
    for t in range(n):
        ids = [] if t in (3, 4) else [base]  # two frames without a body
        if two and t < n - 2:
            ids.append(base + 1)
        if noise and 5 <= t < 9:
            ids.append(999)  # a short-lived third body
        frames.append(ids)
    return frames


def assert_same_skeleton(a: SkeletonFile, b: SkeletonFile) -> None:
    assert [len(f) for f in a.frames] == [len(f) for f in b.frames]
    for fa, fb in zip(a.frames, b.frames):
        for x, y in zip(fa, fb):
            assert {**x.__dict__, "joints": None} == {**y.__dict__, "joints": None}
            assert x.joints.shape == y.joints.shape == (25, 12)
            assert x.joints.tobytes() == y.joints.tobytes()  # bit for bit, sign of zero included


def _outcome(text: str, tmp_path: Path) -> SkeletonFile | str:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(text.encode("latin-1"))
    try:
        return read_skeleton(path)
    except SkeletonParseError as exc:
        return str(exc)


def _reference(text: str, tmp_path: Path) -> SkeletonFile | str:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    raw = text.encode("latin-1").removeprefix(b"\xef\xbb\xbf")
    try:
        try:
            decoded = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise SkeletonParseError(path, line, "not a text file (non-ASCII bytes)") from None
        return parse_skeleton_text(decoded, path)
    except SkeletonParseError as exc:
        return str(exc)


def assert_same_outcome(text: str, tmp_path: Path) -> None:
    got, want = _outcome(text, tmp_path), _reference(text, tmp_path)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
    else:
        assert_same_skeleton(got, want)


# --------------------------------------------------------------------------- the decimal tokens
def test_decimal_tokens_equal_float_bit_for_bit():
    rng = np.random.default_rng(0)
    tokens = [_value(rng, float(10.0 ** rng.integers(-3, 6))) for _ in range(20000)]
    tokens += ["0", "-0", "+0", "-0.0", ".5", "5.", "-.5", "+.5", "999999999999999", "0.000000000000001"]
    tokens += ["123456789012.345", "-99999999999999.9", "0.1", "0.3", "2.675", "1e5", "1.5E-3", "7.", "00012.3400"]
    tokens += ["1234567890123456", "-", ".", "1.2.3", "--1", "1-2", "+-1", "1e", "e5", "12345678901234567"]
    buf = (" " * 16 + " \r\n".join(tokens)).encode()
    starts, ends = token_bounds(buf)
    assert len(starts) == len(tokens)
    values, ok = parse_decimals(buf, starts, ends)
    reference = np.loadtxt(tokens[:20000], comments=None)
    assert ok[:20000].sum() > 15000  # most are plain decimals
    for i, token in enumerate(tokens):
        if ok[i]:
            assert values[i : i + 1].tobytes() == np.float64(float(token)).tobytes(), token
            if i < 20000:
                assert values[i] == reference[i] and np.signbit(values[i]) == np.signbit(reference[i])
    malformed = {"-", ".", "1.2.3", "--1", "1-2", "+-1", "1e", "e5"}
    assert not any(ok[i] for i, t in enumerate(tokens) if t in malformed or "e" in t.lower() or len(t) > 16)


# --------------------------------------------------------------------------- the fast path == the checking walk
@pytest.mark.parametrize("two, noise, newline", [(False, False, "\r\n"), (True, True, "\r\n"), (True, False, "\n")])
def test_plain_path_equals_the_checking_walk(tmp_path, two, noise, newline):
    rng = np.random.default_rng(int(two) * 2 + int(noise))
    text = skeleton_text(rng, _frames_pattern(rng, 14, two, noise), newline) + newline * 2
    parsed = _parse_plain(text.encode(), tmp_path / "x.skeleton")
    assert parsed is not None  # the plain path took it
    assert_same_skeleton(parsed.to_file(), parse_skeleton_text(text))
    assert_same_outcome(text, tmp_path)


def test_fixtures_and_the_genuine_samples_take_the_plain_path(tmp_path):
    paths = sorted(FIXTURES.glob("*.skeleton"))
    from conftest import SHARED_DATA

    real = SHARED_DATA / "ntu_rgbd" / "raw_samples"
    paths += sorted(real.glob("*.skeleton")) if real.is_dir() else []
    for path in paths:
        raw = path.read_bytes()
        parsed = _parse_plain(raw, path)
        assert parsed is not None, path
        assert_same_skeleton(parsed.to_file(), parse_skeleton_text(raw.decode(), path))


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.replace(" ", "  ", 5),  # double spaces: still valid
        lambda s: s.replace(" ", "\t", 7),  # tabs: still valid
        lambda s: s.replace("\r\n", "\r"),  # lone CR line breaks: splitlines accepts them
        lambda s: s.replace("\r\n", "\r\n ", 30),  # leading spaces
        lambda s: "\ufeff".encode().decode("latin-1") + s,  # a UTF-8 byte-order mark
        lambda s: s.replace("\r\n", "\x0c", 1),  # a form feed is a line break for splitlines
        lambda s: s.replace(" ", " 1-2 ", 1),  # malformed tokens
        lambda s: s.replace("0 1 1 0 0 0", "0 1 1 0 0 x", 1),
        lambda s: s.replace("\r\n25\r\n", "\r\n24\r\n", 1),
        lambda s: s + "7\r\n",  # data after the last frame
        lambda s: s[: len(s) // 2],  # truncated
        lambda s: s.replace("\r\n", "\r\n\r\n", 3),  # blank lines inside
        lambda s: s.replace("é", "").replace(" 2\r\n", " é\r\n", 1),  # non-ASCII
        lambda s: s.replace(" ", "", 1),  # two joint values glued: a line of 11 values
        lambda s: s.replace(" ", "\x00", 1),
    ],
)
def test_edited_files_give_the_same_value_or_the_same_error(tmp_path, edit):
    rng = np.random.default_rng(5)
    text = skeleton_text(rng, _frames_pattern(rng, 6, True, False))
    assert_same_outcome(edit(text), tmp_path)


def test_a_wide_line_and_a_narrow_line_do_not_cancel_out(tmp_path):
    rng = np.random.default_rng(6)
    lines = skeleton_text(rng, [[5], [5]]).split("\r\n")
    lines[5] += " 1.5"  # joint 2 of frame 1: 13 values
    lines[6] = lines[6].rsplit(" ", 1)[0]  # joint 3: 11 values; the token total is unchanged
    text = "\r\n".join(lines)
    assert _parse_plain(text.encode(), tmp_path / "x") is None
    outcome = _outcome(text, tmp_path)
    assert isinstance(outcome, str) and "expected 12 values, found 13" in outcome
    assert_same_outcome(text, tmp_path)


def test_random_byte_edits_give_the_same_outcome(tmp_path):
    rng = np.random.default_rng(7)
    text = skeleton_text(rng, [[11], [], [11, 12]])
    alphabet = list("0123456789.-+eE \t\r\nx") + ["\r\n", ""]
    for _ in range(300):
        chars = list(text)
        for _ in range(int(rng.integers(1, 4))):
            chars[int(rng.integers(len(chars)))] = str(rng.choice(alphabet))
        assert_same_outcome("".join(chars), tmp_path)


# --------------------------------------------------------------------------- the streamed conversion
def _raw_set(tmp_path: Path, long_file: bool = False) -> Path:
    """Eight files: one and two bodies, noise bodies, empty frames; optionally one of 320 frames."""
    rng = np.random.default_rng(11)
    raw = tmp_path / "raw"
    raw.mkdir()
    names = [f"S001C00{c}P00{p}R001A0{a}" for c, p, a in [(1, 1, 10), (2, 1, 12), (1, 2, 50), (3, 3, 51)]]
    names += [f"S002C00{c}P00{p}R002A0{a}" for c, p, a in [(1, 4, 11), (2, 5, 55), (3, 1, 20), (1, 8, 60)]]
    for i, name in enumerate(names):
        frames = 320 if long_file and i == 3 else int(rng.integers(20, 60))
        two = int(name[-3:]) >= 50
        (raw / f"{name}.skeleton").write_text(skeleton_text(rng, _frames_pattern(rng, frames, two, i % 3 == 0)))
    return raw


def _naive(raw: Path, profile: str, names: list[str]) -> tuple[np.ndarray, list[int]]:
    """The whole (N, 3, T, 25, 2) array in memory, clip by clip, as the converter did before streaming."""
    actors = [
        ntu.skeleton_to_umurl_bodies(raw / f"{n}.skeleton")
        if profile == "umurl"
        else ntu.skeleton_to_actors(raw / f"{n}.skeleton")
        for n in names
    ]
    t_max = max(ntu.MIN_FRAMES, max(a.shape[1] for a in actors))
    data = np.zeros((len(names), 3, t_max, 25, 2), np.float32)
    for i, a in enumerate(actors):
        clip = ntu.prepare_clip(a, False, profile, t_max)
        data[i, :, : clip.shape[1]] = clip
    return data, [a.shape[1] for a in actors]


def _check_against_naive(out: Path, raw: Path, profile: str) -> None:
    names = (out / "names.txt").read_text().split()
    data, lengths = _naive(raw, profile, names)
    written = np.load(out / "data.npy")
    assert written.shape == data.shape and written.tobytes() == data.tobytes()
    assert np.load(out / "num_frames.npy").tolist() == lengths
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["content_sha256"] == content_digest(out)  # hashed while streaming == hashed from disk


@pytest.mark.parametrize("profile, workers", [("sgn", 2), ("umurl", 1)])
def test_streamed_conversion_equals_the_naive_array(tmp_path, profile, workers):
    raw = _raw_set(tmp_path)
    out = tmp_path / "out"
    report = ntu.convert_ntu(raw, out, dataset="ntu60", workers=workers, profile=profile, progress=False)
    assert report.num_samples == 8 and report.parsed == 8
    _check_against_naive(out, raw, profile)
    again = ntu.convert_ntu(raw, out, dataset="ntu60", workers=workers, profile=profile, progress=False)
    assert (again.parsed, again.from_cache) == (0, 8)
    _check_against_naive(out, raw, profile)


def test_a_long_clip_or_a_skipped_bad_file_writes_from_the_cache(tmp_path):
    raw = _raw_set(tmp_path, long_file=True)
    out = tmp_path / "out"
    ntu.convert_ntu(raw, out, dataset="ntu60", workers=2, progress=False)
    assert json.loads((out / "manifest.json").read_text())["shape"] == [8, 3, 318, 25, 2]  # 320 less 2 empty frames
    _check_against_naive(out, raw, "sgn")
    (raw / "S001C001P001R001A001.skeleton").write_text("3\r\n1\r\n")  # truncated: a bad file
    with pytest.raises(ntu.DataFormatError, match="1 of 9 files could not be read"):
        ntu.convert_ntu(raw, out, dataset="ntu60", progress=False)
    assert json.loads((out / "manifest.json").read_text())["num_samples"] == 8  # the old dataset stays
    report = ntu.convert_ntu(raw, out, dataset="ntu60", progress=False, skip_bad=True)
    assert report.num_samples == 8 and report.from_cache == 8
    _check_against_naive(out, raw, "sgn")


def test_a_damaged_cache_entry_is_recomputed(tmp_path):
    raw = _raw_set(tmp_path)
    out = tmp_path / "out"
    ntu.convert_ntu(raw, out, dataset="ntu60", progress=False)
    entry = out / ".cache" / "S001C001P001R001A010.npz"
    payload = bytearray(entry.read_bytes())
    payload[len(payload) // 3] ^= 0xFF  # inside the stored actors: the zip CRC no longer matches
    entry.write_bytes(bytes(payload))
    assert ntu.load_cached(out / ".cache", raw / "S001C001P001R001A010.skeleton") is None
    report = ntu.convert_ntu(raw, out, dataset="ntu60", progress=False)
    assert (report.parsed, report.from_cache) == (1, 7)
    _check_against_naive(out, raw, "sgn")


def _square(x: int) -> int:
    return x * x


def test_ordered_parallel_map_keeps_job_order():
    jobs = list(range(300))
    assert list(parallel_map(_square, jobs, 2, "t", progress=False, ordered=True)) == [j * j for j in jobs]
    assert sorted(parallel_map(_square, jobs, 2, "t", progress=False)) == [j * j for j in jobs]


def test_rows_are_checked_on_their_way_to_the_file():
    block = np.zeros((4, 3, 5), np.float32)
    names = [f"s{i}" for i in range(10)]
    check_rows("out", block, 3, names)
    block[2, 1, 1] = np.nan
    with pytest.raises(ntu.DataFormatError, match=r"^out: sample 5 \(s5\) holds NaN/inf coordinates$"):
        check_rows("out", block, 3, names)
    block[2, 1, 1], block[1, 0, 0] = 0.0, -2e5
    with pytest.raises(ntu.DataFormatError, match=r"sample 4 \(s4\) holds implausibly large coordinates"):
        check_rows("out", block, 3, names)
