"""The `.skeleton` reader on hand-made fixtures in the official format, and every bad-input path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssl_skel.data.formats.ntu_skeleton import (
    SampleId,
    SkeletonParseError,
    parse_sample_name,
    parse_skeleton_text,
    read_skeleton,
)
from ssl_skel.data.storage import DataFormatError

FIXTURES = Path(__file__).parent / "fixtures" / "ntu"
ONE_BODY = FIXTURES / "S002C002P003R001A012.skeleton"  # 2 frames, 1 body (id 2**56 + 1)
TWO_BODIES = FIXTURES / "S003C001P004R002A051.skeleton"  # frame 1: ids 11, 12; frame 2: none; frame 3: id 12


def test_fixture_uses_crlf_like_the_official_files():
    assert ONE_BODY.read_bytes().count(b"\r\n") == 57


def test_one_body_fixture_values():
    sk = read_skeleton(ONE_BODY)
    assert sk.name == "S002C002P003R001A012"
    assert sk.num_frames == 2
    assert [len(b) for b in sk.frames] == [1, 1]
    body = sk.frames[1][0]
    assert body.body_id == 72057594037927937  # exact: 2**56 + 1 is not a float64
    assert body.clipped_edges == 0 and body.hand_left_confidence == 1 and body.hand_left_state == 1
    assert body.hand_right_confidence == 0 and body.is_restricted == 0 and body.tracking_state == 2
    assert body.lean == (-0.1159187, 0.1413209)
    # line 55 of the file: frame 2, joint 23 -> "0.4300 0.4600 3.0230 273 223 1023 523 0.5 0.5 0.5 0.5 2"
    np.testing.assert_array_equal(body.joints[22], [0.43, 0.46, 3.023, 273, 223, 1023, 523, 0.5, 0.5, 0.5, 0.5, 2])
    np.testing.assert_array_equal(body.xyz[0], [0.21, 0.02, 3.001])
    assert body.joints.shape == (25, 12)
    # joint 4 of frame 2 is "inferred" (1), every other joint tracked (2)
    assert body.joint_tracking[3] == 1 and body.joint_tracking.sum() == 2 * 25 - 1
    assert sk.frames[0][0].xyz[0, 0] == pytest.approx(0.11)


def test_two_body_fixture_structure():
    sk = read_skeleton(TWO_BODIES)
    assert [len(b) for b in sk.frames] == [2, 0, 1]
    assert sk.body_ids == [11, 12]
    assert sk.frames[0][1].xyz[0].tolist() == [1.11, 0.02, 3.001]
    assert sk.frames[2][0].xyz[24].tolist() == [1.55, 0.5, 3.025]


def test_lf_line_endings_and_trailing_blank_lines_are_accepted():
    text = ONE_BODY.read_bytes().decode().replace("\r\n", "\n") + "\n\n"
    assert parse_skeleton_text(text).num_frames == 2


def _lines() -> list[str]:
    return ONE_BODY.read_bytes().decode().split("\r\n")[:-1]


def _edit(lines: list[str], line: int, text: str) -> str:
    lines = list(lines)
    lines[line - 1] = text
    return "\r\n".join(lines) + "\r\n"


def _error(text: str, tmp_path: Path, name: str = "S001C001P001R001A001.skeleton") -> SkeletonParseError:
    path = tmp_path / name
    path.write_bytes(text.encode())
    with pytest.raises(SkeletonParseError) as info:
        read_skeleton(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    "make, line, words",
    [
        (lambda lines: "", None, "empty file"),
        (lambda lines: " \r\n\r\n", None, "empty file"),
        (lambda lines: "\r\n".join(lines[:40]), 40, "truncated"),
        (lambda lines: "\r\n".join(lines[:31]), 31, "truncated"),  # ends after a body line
        (lambda lines: _edit(lines, 1, "3"), 57, "truncated"),  # frame count larger than the frames
        (lambda lines: _edit(lines, 1, "1"), 30, "unexpected data after the last of 1 frames"),
        (lambda lines: _edit(lines, 1, "two"), 1, "frame count 'two' is not an integer"),
        (lambda lines: _edit(lines, 2, "-1"), 2, "negative"),
        (
            lambda lines: _edit(lines, 55, "0.43o0 0.4600 3.0230 273 223 1023 523 0.5 0.5 0.5 0.5 2"),
            55,
            "non-numeric value '0.43o0'",
        ),
        (
            lambda lines: _edit(lines, 55, "0.4300 0.4600 3.0230 273 223 1023 523 0.5 0.5 0.5 2"),
            55,
            "expected 12 values, found 11",
        ),
        (lambda lines: _edit(lines, 3, "7205759403792793x 0 1 1 0 0 0 -0.1 0.1 2"), 3, "non-numeric body values"),
        (lambda lines: _edit(lines, 3, "720 0 1 1 0 0 0 -0.1 2"), 3, "expected 10 body values, found 9"),
        (lambda lines: _edit(lines, 4, "24"), 4, "joint count is 24, expected 25"),
        (lambda lines: _edit(lines, 2, "2"), 30, "body count says more bodies than follow"),
    ],
)
def test_bad_input_names_file_line_and_problem(tmp_path, make, line, words):
    err = _error(make(_lines()), tmp_path)
    assert err.line == line
    assert words in err.problem
    assert isinstance(err, DataFormatError)


def test_body_count_smaller_than_the_bodies_that_follow(tmp_path):
    lines = TWO_BODIES.read_bytes().decode().split("\r\n")[:-1]
    err = _error(_edit(lines, 2, "1"), tmp_path)
    assert err.line == 30 and "body count of frame 2" in err.problem
    assert "smaller than the bodies that follow" in err.problem


def test_non_text_file_and_unreadable_path(tmp_path):
    path = tmp_path / "S001C001P001R001A002.skeleton"
    path.write_bytes(b"1\r\n\xff\xfe\r\n")
    with pytest.raises(SkeletonParseError, match=r":2: not a text file"):
        read_skeleton(path)
    with pytest.raises(SkeletonParseError, match="cannot read"):
        read_skeleton(tmp_path / "absent.skeleton")


def test_sample_name_ids():
    assert parse_sample_name("S017C003P040R002A060") == SampleId(17, 3, 40, 2, 60)
    assert parse_sample_name("S001C002P003R001A011.skeleton").performer == 3
    for bad in ("S01C002P003R001A011", "X001C002P003R001A011", "S001C00xP003R001A011", ""):
        with pytest.raises(DataFormatError, match="not an NTU sample name"):
            parse_sample_name(bad)
