"""Reader of the official NTU RGB+D `.skeleton` text files (Kinect v2, 25 joints).

Format (official `read_skeleton_file.m`): a frame count, then per frame a body count and per
body one 10-value body line (bodyID as uint64, clippedEdges, hand confidences/states,
isRestricted, leanX, leanY, trackingState), a joint count (25) and 25 joint lines of 12 values
(x y z depthX depthY colorX colorY orientationW..Z trackingState). Lines end in CRLF.

Why a hand-written reader: the files are small and many (56,880 / 114,480), and a bad file must
be reported with the line and the problem, so the walk checks every count it relies on. A body
count that is larger than what follows shows up as a next line of the wrong width (or the end of
the file); one that is smaller leaves a body line where the next frame's count should be.

Two paths, one result: `read_skeleton` first tries `_parse_plain`, which handles a file made only of
digits, signs, dots, exponents and whitespace with every count right (every official file): it counts
the tokens of each line at once and converts all joint values in one vectorised pass
(decimal_text.py). Anything it does not accept goes to the checking walk (`parse_skeleton_text`),
which returns the same values or the located error; the plain path never raises on its own.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssl_skel.data.formats.decimal_text import WINDOW, parse_decimals, token_bounds
from ssl_skel.data.storage import DataFormatError

NUM_JOINTS = 25
JOINT_VALUES = 12  # x y z depthX depthY colorX colorY oriW oriX oriY oriZ trackingState
BODY_VALUES = 10


class SkeletonParseError(DataFormatError):
    """A `.skeleton` file that does not follow the format; names the file, the line and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class BodyFrame:
    """One tracked body in one frame.

    joints: (25, 12) float64, the joint line values in file order; `xyz` is camera space in metres.
    """

    body_id: int
    clipped_edges: int
    hand_left_confidence: int
    hand_left_state: int
    hand_right_confidence: int
    hand_right_state: int
    is_restricted: int
    lean: tuple[float, float]
    tracking_state: int
    joints: np.ndarray

    @property
    def xyz(self) -> np.ndarray:
        """(25, 3) camera-space coordinates in metres."""
        return self.joints[:, :3]

    @property
    def joint_tracking(self) -> np.ndarray:
        """(25,) int: 0 not tracked, 1 inferred, 2 tracked."""
        return self.joints[:, 11].astype(np.int64)


@dataclass(frozen=True)
class SkeletonFile:
    """A parsed `.skeleton` file: `frames[t]` lists the bodies of frame t (possibly none).

    `joints` optionally holds every body's joint values in file order, (K, 25, 12): the readers
    fill it (the BodyFrame joints are its rows), hand-built files may leave it None.
    """

    path: Path
    frames: list[list[BodyFrame]]
    joints: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def blocks(self) -> tuple[np.ndarray, list[int], np.ndarray]:
        """Every body of every frame in file order: frame index (K,) int64, body IDs, joints (K, 25, 12)."""
        frame_of = np.array([t for t, bodies in enumerate(self.frames) for _ in bodies], dtype=np.int64)
        ids = [body.body_id for bodies in self.frames for body in bodies]
        if self.joints is not None and len(self.joints) == len(ids):
            return frame_of, ids, self.joints
        joints = [body.joints for bodies in self.frames for body in bodies]
        return frame_of, ids, np.stack(joints) if joints else np.zeros((0, NUM_JOINTS, JOINT_VALUES))

    @property
    def body_ids(self) -> list[int]:
        """Distinct body IDs in order of first appearance."""
        seen: dict[int, None] = {}
        for bodies in self.frames:
            for body in bodies:
                seen.setdefault(body.body_id, None)
        return list(seen)


@dataclass(frozen=True)
class SkeletonBlocks:
    """A parsed `.skeleton` file as arrays, what converters need (no object per body per frame).

    Body k (in file order) is in frame frame_of[k]; body_info[k] holds its body-line values as
    BodyFrame takes them (body_id first); joints: (K, 25, 12) float64.
    """

    path: Path
    num_frames: int
    frame_of: np.ndarray
    body_info: list[tuple]
    joints: np.ndarray

    def blocks(self) -> tuple[np.ndarray, list[int], np.ndarray]:
        """As SkeletonFile.blocks: frame index (K,), body IDs, joints (K, 25, 12)."""
        return self.frame_of, [info[0] for info in self.body_info], self.joints

    def to_file(self) -> SkeletonFile:
        frames: list[list[BodyFrame]] = [[] for _ in range(self.num_frames)]
        for t, info, joints in zip(self.frame_of.tolist(), self.body_info, self.joints):
            frames[t].append(BodyFrame(*info, joints))
        return SkeletonFile(self.path, frames, self.joints)

    @classmethod
    def of(cls, skeleton: SkeletonFile) -> SkeletonBlocks:
        frame_of, _, joints = skeleton.blocks()
        info = [
            (b.body_id, b.clipped_edges, b.hand_left_confidence, b.hand_left_state, b.hand_right_confidence,
             b.hand_right_state, b.is_restricted, b.lean, b.tracking_state)
            for bodies in skeleton.frames for b in bodies
        ]  # fmt: skip
        return cls(skeleton.path, skeleton.num_frames, frame_of, info, joints)


class _Lines:
    """Cursor over the file's lines that turns every failure into a located SkeletonParseError."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.pos = 0  # 0-based index of the next line

    def error(self, problem: str, line: int | None = None) -> SkeletonParseError:
        return SkeletonParseError(self.path, self.pos if line is None else line, problem)

    def next_fields(self, what: str) -> list[str]:
        if self.pos >= len(self.lines):
            raise SkeletonParseError(self.path, len(self.lines), f"truncated: file ends where {what} was expected")
        fields = self.lines[self.pos].split()
        self.pos += 1
        return fields

    def count(self, what: str, context: str) -> int:
        fields = self.next_fields(what)
        if len(fields) != 1:
            hint = f" ({context})" if context else ""
            raise self.error(f"expected {what} (1 value), found {len(fields)} values{hint}")
        try:
            value = int(fields[0])
        except ValueError:
            raise self.error(f"{what} {fields[0]!r} is not an integer") from None
        if value < 0:
            raise self.error(f"{what} {value} is negative")
        return value


def _body(cur: _Lines, frame: int, body: int, count: int) -> tuple[tuple, int]:
    """Check one body's lines; returns its body-line values and the index of its first joint line.

    The joint values are converted later, for the whole file at once (np.loadtxt is several
    times faster than converting line by line).
    """
    fields = cur.next_fields(f"body line {body + 1}/{count} of frame {frame + 1}")
    if len(fields) != BODY_VALUES:
        lie = " (the body count says more bodies than follow)" if len(fields) == 1 else ""
        raise cur.error(
            f"frame {frame + 1}, body {body + 1}/{count}: expected {BODY_VALUES} body values, found {len(fields)}{lie}"
        )
    try:
        ints = [int(f) for f in fields[:7]] + [int(fields[9])]
        lean = (float(fields[7]), float(fields[8]))
    except ValueError:
        raise cur.error(f"frame {frame + 1}, body {body + 1}: non-numeric body values {' '.join(fields)!r}") from None
    if ints[0] < 0 or ints[0] >= 2**64:
        raise cur.error(f"frame {frame + 1}, body {body + 1}: bodyID {ints[0]} is not a uint64")
    num_joints = cur.count("joint count", f"frame {frame + 1}, body {body + 1}")
    if num_joints != NUM_JOINTS:
        raise cur.error(f"frame {frame + 1}, body {body + 1}: joint count is {num_joints}, expected {NUM_JOINTS}")
    first = cur.pos
    if first + NUM_JOINTS > len(cur.lines):
        raise SkeletonParseError(
            cur.path, len(cur.lines), f"truncated: file ends inside the joints of frame {frame + 1}, body {body + 1}"
        )
    cur.pos += NUM_JOINTS
    return (ints[0], *ints[1:7], lean, ints[7]), first


def _joint_values(cur: _Lines, blocks: list[tuple[int, int, int]]) -> np.ndarray:
    """(K, 25, 12) float64 values of K joint blocks given as (first line index, frame, body)."""
    if not blocks:
        return np.zeros((0, NUM_JOINTS, JOINT_VALUES))
    lines = [line for first, _, _ in blocks for line in cur.lines[first : first + NUM_JOINTS]]
    try:
        values = np.loadtxt(lines, dtype=np.float64, comments=None, ndmin=2)
        if values.shape == (len(lines), JOINT_VALUES):
            return values.reshape(len(blocks), NUM_JOINTS, JOINT_VALUES)
    except ValueError:
        pass
    for first, frame, body in blocks:
        _check_joint_lines(cur, first, frame, body)
    raise cur.error("unreadable joint values", blocks[0][0] + 1)  # pragma: no cover (the check above raises)


def _check_joint_lines(cur: _Lines, first: int, frame: int, body: int) -> None:
    """Raise the located error of the first bad joint line of one block, if any."""
    for j, line in enumerate(cur.lines[first : first + NUM_JOINTS]):
        fields = line.split()
        where = first + j + 1
        if len(fields) != JOINT_VALUES:
            raise cur.error(
                f"frame {frame + 1}, body {body + 1}, joint {j + 1}: "
                f"expected {JOINT_VALUES} values, found {len(fields)}",
                where,
            )
        for f in fields:
            try:
                float(f)
            except ValueError:
                raise cur.error(
                    f"frame {frame + 1}, body {body + 1}, joint {j + 1}: non-numeric value {f!r}", where
                ) from None


def parse_skeleton_text(text: str, path: str | Path = "<text>") -> SkeletonFile:
    """Parse the text of a `.skeleton` file (see the module docstring for the format)."""
    path = Path(path)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise SkeletonParseError(path, None, "empty file (no frame count)")
    cur = _Lines(path, lines)
    layout: list[list[tuple]] = []  # per frame: body-line values
    blocks: list[tuple[int, int, int]] = []
    try:
        num_frames = cur.count("frame count", "first line")
        for f in range(num_frames):
            context = "the previous body count is smaller than the bodies that follow" if f else ""
            num_bodies = cur.count(f"body count of frame {f + 1}", context)
            layout.append([])
            for b in range(num_bodies):
                info, first = _body(cur, f, b, num_bodies)
                layout[-1].append(info)
                blocks.append((first, f, b))
        if cur.pos < len(lines):
            raise cur.error(
                f"unexpected data after the last of {num_frames} frames (frame or body count wrong)", cur.pos + 1
            )
    except SkeletonParseError:
        _joint_values(cur, blocks)  # a bad joint line before the structural error is reported first
        raise
    return _assemble(path, layout, _joint_values(cur, blocks))


def _assemble(path: Path, layout: list[list[tuple]], joints: np.ndarray) -> SkeletonFile:
    values = iter(joints)
    return SkeletonFile(path, [[BodyFrame(*info, next(values)) for info in bodies] for bodies in layout], joints)


# --------------------------------------------------------------------------- the plain path
_PLAIN_BYTES = b"0123456789+-.eE \t\r\n"  # what official files are made of
_PAD = b" " * WINDOW  # parse_decimals looks 16 bytes back from each token's end


class _NotPlain(Exception):
    """The plain path gives up; the checking walk decides (value or located error)."""


def _body_info(fields: list[bytes]) -> tuple:
    """The body-line values as the checking walk reads them (`_body`), or _NotPlain."""
    if len(fields) != BODY_VALUES:
        raise _NotPlain
    try:
        ints = [int(f) for f in fields[:7]] + [int(fields[9])]
        lean = (float(fields[7]), float(fields[8]))
    except ValueError:
        raise _NotPlain from None
    if ints[0] < 0 or ints[0] >= 2**64:
        raise _NotPlain
    return (ints[0], *ints[1:7], lean, ints[7])


def _line_tokens(buf: bytes, ends: np.ndarray, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Per line of raw (as str.splitlines cuts it, no lone CR): its token count and its first token's index."""
    newlines = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10)
    if not raw.endswith(b"\n"):
        newlines = np.append(newlines, len(buf))  # a last line without a line break
    upto = np.searchsorted(ends, newlines, side="right")  # tokens that end on or before each line's end
    counts = np.diff(upto, prepend=0)
    return counts, upto - counts


def _parse_plain(raw: bytes, path: Path) -> SkeletonBlocks | None:
    """The fast path of the module docstring, or None to leave the file to the checking walk."""
    if not raw or raw.translate(None, _PLAIN_BYTES):
        return None
    buf = _PAD + raw
    starts, ends = token_bounds(buf)
    counts, first_token = _line_tokens(buf, ends, raw)
    lines = raw.splitlines()
    if len(lines) != len(counts):  # a lone CR (a line break for splitlines) inside; at the very end it is harmless
        return None
    n = len(lines)
    while n and counts[n - 1] == 0:  # trailing blank lines
        n -= 1
    per_line = counts[:n].tolist()
    pos = 0

    def count() -> int:
        nonlocal pos
        if pos >= n or per_line[pos] != 1:
            raise _NotPlain
        try:
            value = int(lines[pos])
        except ValueError:
            raise _NotPlain from None
        pos += 1
        if value < 0:
            raise _NotPlain
        return value

    info: list[tuple] = []
    frame_of: list[int] = []
    firsts: list[int] = []
    try:
        num_frames = count()
        for t in range(num_frames):
            for _ in range(count()):
                if pos >= n:
                    raise _NotPlain
                info.append(_body_info(lines[pos].split()))
                frame_of.append(t)
                pos += 1
                if count() != NUM_JOINTS or pos + NUM_JOINTS > n:
                    raise _NotPlain
                firsts.append(pos)
                pos += NUM_JOINTS
        if pos != n:
            raise _NotPlain
        joints = _plain_joint_values(buf, starts, ends, counts, first_token, firsts)
    except _NotPlain:
        return None
    return SkeletonBlocks(path, num_frames, np.array(frame_of, dtype=np.int64), info, joints)


def _plain_joint_values(buf, starts, ends, counts, first_token, firsts: list[int]) -> np.ndarray:
    """(K, 25, 12) float64 joint values of the blocks whose first joint line is each of `firsts`."""
    if not firsts:
        return np.zeros((0, NUM_JOINTS, JOINT_VALUES))
    rows = (np.asarray(firsts)[:, None] + np.arange(NUM_JOINTS)).ravel()
    if not (counts[rows] == JOINT_VALUES).all():
        raise _NotPlain
    tokens = (first_token[rows][:, None] + np.arange(JOINT_VALUES)).ravel()
    s, e = starts[tokens], ends[tokens]
    values, ok = parse_decimals(buf, s, e)
    for i in np.flatnonzero(~ok).tolist():  # exponents, long or malformed tokens: one by one
        try:
            values[i] = float(buf[s[i] : e[i]])
        except ValueError:
            raise _NotPlain from None
    return values.reshape(len(firsts), NUM_JOINTS, JOINT_VALUES)


def parse_skeleton_blocks(raw: bytes, path: str | Path = "<bytes>") -> SkeletonBlocks:
    """Parse the bytes of a `.skeleton` file (the plain path, else the checking walk; same result)."""
    path = Path(path)
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark (an editor's save) is not data
    parsed = _parse_plain(raw, path)
    if parsed is not None:
        return parsed
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SkeletonParseError(path, line, "not a text file (non-ASCII bytes)") from None
    return SkeletonBlocks.of(parse_skeleton_text(text, path))


def parse_skeleton_bytes(raw: bytes, path: str | Path = "<bytes>") -> SkeletonFile:
    """Parse the bytes of a `.skeleton` file into a SkeletonFile."""
    return parse_skeleton_blocks(raw, path).to_file()


def read_skeleton_blocks(path: str | Path) -> SkeletonBlocks:
    """Read and parse one `.skeleton` file as arrays; errors are SkeletonParseError naming the file and line."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block forever, /dev/zero never end
            raise SkeletonParseError(path, None, "not a regular file (a pipe, device or folder); refused")
        raw = path.read_bytes()
    except OSError as exc:
        raise SkeletonParseError(path, None, f"cannot read ({exc.strerror or exc})") from None
    return parse_skeleton_blocks(raw, path)


def read_skeleton(path: str | Path) -> SkeletonFile:
    """Read and parse one `.skeleton` file; errors are SkeletonParseError naming the file and line."""
    return read_skeleton_blocks(path).to_file()


@dataclass(frozen=True)
class SampleId:
    """IDs encoded in an NTU sample name SsssCcccPpppRrrrAaaa (all 1-based)."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int


def parse_sample_name(name: str) -> SampleId:
    """`S001C002P003R001A011` -> SampleId(1, 2, 3, 1, 11); DataFormatError for other names."""
    stem = Path(name).name.split(".")[0]
    ok = len(stem) == 20 and [stem[i] for i in (0, 4, 8, 12, 16)] == list("SCPRA")
    try:
        if ok:
            return SampleId(*(int(stem[i + 1 : i + 4]) for i in (0, 4, 8, 12, 16)))
    except ValueError:
        pass
    raise DataFormatError(f"{name}: not an NTU sample name (expected SsssCcccPpppRrrrAaaa, e.g. S001C001P001R001A001)")
