"""The UmURL NTU profile on hand-built bodies: energy selection by body slot, padding by repetition,
per-frame centring on body 1's spine-mid, one shoulder rotation from frame 0; and the converter end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssl_skel.data.formats.normalise import (
    body_energy,
    centre_per_frame,
    pad_by_repetition,
    select_energetic,
    shoulder_rotation,
    umurl_normalise,
)
from ssl_skel.data.formats.ntu import convert_ntu, skeleton_to_umurl_bodies
from ssl_skel.data.sources import open_arrays


def body(frames: int, spread: float, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    """(frames, 25, 3) float32: a body whose joints spread by `spread` around (shift, 1, 3)."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-spread, spread, size=(frames, 25, 3)) + np.array([shift, 1.0, 3.0])
    return xyz.astype(np.float32)


def test_energy_is_std_per_axis_summed_over_non_empty_frames() -> None:
    b = np.zeros((4, 25, 3), np.float32)
    b[1, :, 0] = np.tile([0.0, 2.0], 13)[:25]  # x: 12 twos, 13 zeros -> std
    b[1, :, 1] = 1.0  # y constant: std 0
    b[3] = 0.0
    expected = np.std(b[1, :, 0]) + 0.0 + 0.0  # frames 0, 2, 3 are empty and ignored
    assert body_energy(b) == pytest.approx(expected)
    assert body_energy(np.zeros((3, 25, 3))) == 0.0


def test_the_two_most_energetic_slots_are_kept_in_energy_order() -> None:
    slots = np.zeros((4, 6, 25, 3))
    slots[0] = body(6, 0.05)  # calm
    slots[1] = body(6, 0.5, seed=1)  # most active
    slots[2, :2] = body(2, 0.2, seed=2)  # a short, middling one
    out = select_energetic(slots, 2)
    np.testing.assert_array_equal(out[0], slots[1])
    np.testing.assert_array_equal(out[1], slots[2])
    one = np.zeros((4, 6, 25, 3))
    one[0] = body(6, 0.1)
    np.testing.assert_array_equal(select_energetic(one, 2)[1], 0.0)  # one body: the second stays absent


def test_padding_compacts_leading_gaps_and_repeats_cyclically() -> None:
    a = np.zeros((2, 7, 25, 3), np.float32)
    a[0, :3] = np.arange(1, 4, dtype=np.float32)[:, None, None]  # frames 1,2,3 then empty
    a[1, 2:4] = np.array([5.0, 6.0], np.float32)[:, None, None]  # appears late: moved to the front
    out = pad_by_repetition(a)
    np.testing.assert_array_equal(out[0, :, 0, 0], [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(out[1, :, 0, 0], [5, 6, 5, 6, 5, 6, 5])
    gap = np.zeros((1, 5, 25, 3), np.float32)
    gap[0, [0, 2]] = 1.0  # interior gap kept (frame 0 is present), tail repeats frames 0..2
    np.testing.assert_array_equal(pad_by_repetition(gap)[0, :, 0, 0], [1, 0, 1, 1, 0])


def test_centring_subtracts_body_one_spine_mid_in_every_frame_and_keeps_zeros() -> None:
    a = np.zeros((2, 3, 25, 3), np.float32)
    a[0] = body(3, 0.3)
    a[1] = body(3, 0.3, shift=1.0, seed=3)
    a[1, :, 7] = 0.0  # an untracked joint of body 2
    out = centre_per_frame(a, joint=1)
    np.testing.assert_allclose(out[0, :, 1], 0.0)
    np.testing.assert_allclose(out[1, :, 0], a[1, :, 0] - a[0, :, 1], rtol=1e-6)  # body 1's origin, per frame
    assert np.all(out[1, :, 7] == 0)


def test_rotation_takes_frame_zero_shoulders_onto_x_for_every_frame() -> None:
    a = np.zeros((2, 4, 25, 3), np.float32)
    a[0] = body(4, 0.2)
    a[1] = body(4, 0.2, shift=0.8, seed=5)
    a[0, 0, 4] = a[0, 0, 1] + [-0.1, 0.0, 0.2]  # left shoulder
    a[0, 0, 8] = a[0, 0, 1] + [0.1, 0.05, -0.2]  # right shoulder
    a[:, 3] = 0.0  # an empty last frame: padded from frame 0
    out = umurl_normalise(a)
    v = out[0, 0, 8] - out[0, 0, 4]
    np.testing.assert_allclose(v[1:], 0.0, atol=1e-6)
    assert v[0] > 0 and np.linalg.norm(v) == pytest.approx(np.linalg.norm(a[0, 0, 8] - a[0, 0, 4]), rel=1e-5)
    rot = shoulder_rotation(centre_per_frame(pad_by_repetition(a)))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    centred = centre_per_frame(pad_by_repetition(a))
    np.testing.assert_allclose(out, centred @ rot.T.astype(np.float32), atol=1e-5)  # one rotation for all frames
    np.testing.assert_array_equal(out[:, 3], out[:, 0])  # the repeated frame


def _write(path: Path, frames: list[list[np.ndarray]]) -> None:
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for k, xyz in enumerate(bodies):
            lines += [f"{72057594037927936 + k} 0 1 1 1 1 0 0.1 0.1 2", "25"]
            lines += [f"{x:.7g} {y:.7g} {z:.7g} 256 212 960 540 1 0 0 0 2" for x, y, z in xyz]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())


def test_reader_uses_slots_by_position_and_the_converter_stores_the_file_frame_count(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    calm, active, noise = body(5, 0.05), body(5, 0.4, seed=1), body(5, 0.2, shift=2.0, seed=2)
    frames = [[] for _ in range(1)] + [[calm[t], active[t], noise[t]] for t in range(4)]  # an empty first frame
    _write(raw / "S001C001P001R001A050.skeleton", frames)
    _write(raw / "S001C002P002R001A001.skeleton", [[calm[t]] for t in range(5)])
    bodies = skeleton_to_umurl_bodies(raw / "S001C001P001R001A050.skeleton")
    assert bodies.shape == (2, 5, 25, 3) and bodies.dtype == np.float32
    np.testing.assert_allclose(bodies[0, 1:], active[:4], atol=1e-6)  # slot 1 is the most energetic
    np.testing.assert_allclose(bodies[1, 1:], noise[:4], atol=1e-6)
    assert np.all(bodies[:, 0] == 0)
    convert_ntu(raw, tmp_path / "out", dataset="ntu60", profile="umurl", progress=False)
    arrays = open_arrays(tmp_path / "out", "xview", "train")  # camera 2 -> train
    row = list(arrays.names).index("S001C002P002R001A001")
    assert int(arrays.num_frames[row]) == 5 and arrays.data.shape[2] == 300
    clip = np.asarray(arrays.data[row])  # (3, 300, 25, 2): body 1 repeated over all 300 frames
    np.testing.assert_allclose(clip[:, 5:10], clip[:, 0:5])
    np.testing.assert_allclose(clip[:, :, 1, 0], 0.0, atol=1e-6)
    two = open_arrays(tmp_path / "out", "xview", "test")
    r2 = list(two.names).index("S001C001P001R001A050")
    assert int(two.num_frames[r2]) == 5  # the file's frame count, the empty first frame included
    expected = umurl_normalise(np.pad(bodies, ((0, 0), (0, 295), (0, 0), (0, 0))))
    np.testing.assert_allclose(np.asarray(two.data[r2]), expected.transpose(3, 1, 2, 0), atol=1e-6)


def test_profile_errors_name_the_problem(tmp_path: Path) -> None:
    from ssl_skel.data.storage import DataFormatError

    with pytest.raises(DataFormatError, match="unknown NTU profile 'agcn'"):
        convert_ntu(tmp_path, tmp_path / "o", dataset="ntu60", profile="agcn", progress=False)
    with pytest.raises(DataFormatError, match="--align-view belongs to the sgn profile"):
        convert_ntu(tmp_path, tmp_path / "o", dataset="ntu60", profile="umurl", align=True, progress=False)
