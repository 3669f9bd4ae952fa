"""Reader of the official NTU RGB+D `.skeleton` text files (Kinect v2, 25 joints).

Format (official `read_skeleton_file.m`): a frame count, then per frame a body count and per
body one 10-value body line (bodyID as uint64, clippedEdges, hand confidences/states,
isRestricted, leanX, leanY, trackingState), a joint count (25) and 25 joint lines of 12 values
(x y z depthX depthY colorX colorY orientationW..Z trackingState). Lines end in CRLF.

Why a hand-written reader: the files are small and many (56,880 / 114,480), and a bad file must
be reported with the line and the problem, so the walk checks every count it relies on. A body
count that is larger than what follows shows up as a next line of the wrong width (or the end of
the file); one that is smaller leaves a body line where the next frame's count should be.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    """A parsed `.skeleton` file: `frames[t]` lists the bodies of frame t (possibly none)."""

    path: Path
    frames: list[list[BodyFrame]]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def body_ids(self) -> list[int]:
        """Distinct body IDs in order of first appearance."""
        seen: dict[int, None] = {}
        for bodies in self.frames:
            for body in bodies:
                seen.setdefault(body.body_id, None)
        return list(seen)


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
    values = iter(_joint_values(cur, blocks))
    return SkeletonFile(path, [[BodyFrame(*info, next(values)) for info in bodies] for bodies in layout])


def read_skeleton(path: str | Path) -> SkeletonFile:
    """Read and parse one `.skeleton` file; errors are SkeletonParseError naming the file and line."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block forever, /dev/zero never end
            raise SkeletonParseError(path, None, "not a regular file (a pipe, device or folder); refused")
        raw = path.read_bytes()
    except OSError as exc:
        raise SkeletonParseError(path, None, f"cannot read ({exc.strerror or exc})") from None
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark (an editor's save) is not data
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SkeletonParseError(path, line, "not a text file (non-ASCII bytes)") from None
    return parse_skeleton_text(text, path)


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
