"""Layouts as data: the shipped declarations, user files, bad declarations, GCN partitions, joint orders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from layout_samples import LAB5_FULL as USER_LAYOUT

from ssl_skel.data.layouts import (
    LAYOUTS,
    Layout,
    LayoutError,
    choose_layout,
    get_layout,
    joint_permutation,
    load_layout_file,
    partition_adjacency,
    resolve_layout,
    stored_layout,
)


def test_all_issue_layouts_are_built_in() -> None:
    expected = {
        "ntu25": 25,
        "kinect20": 20,
        "coco17": 17,
        "openpose25": 25,
        "openpose18": 18,
        "h36m17": 17,
        "mediapipe33": 33,
        "smpl24": 24,
        "penn13": 13,
        "sbu15": 15,
    }
    assert {n: lay.num_joints for n, lay in LAYOUTS.items()} == expected
    assert get_layout("coco18") is get_layout("openpose18")  # alias


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_gcn_partition_shapes_and_symmetry(layout: Layout) -> None:
    v = layout.num_joints
    for strategy, k in (("uniform", 1), ("distance", 2), ("spatial", 3)):
        a = partition_adjacency(layout, strategy)
        assert a.shape == (k, v, v)
        np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(v), rtol=1e-6)  # each output averages its inputs
        support = (a.sum(axis=0) > 0).astype(np.float32)
        np.testing.assert_array_equal(support, support.T)  # the graph itself is undirected
        np.testing.assert_array_equal(support - np.eye(v), layout.adjacency())  # = bones + self-loops
    spatial = partition_adjacency(layout, "spatial")
    np.testing.assert_array_equal(np.diag(spatial[0]) > 0, np.ones(v, bool))  # self-loops in the first partition
    # a bone's centripetal edge one way is its centrifugal edge the other way
    np.testing.assert_array_equal(spatial[1] > 0, (spatial[2] > 0).T)
    perm = layout.flip_permutation  # a mirrored skeleton has the same partition
    np.testing.assert_allclose(spatial[:, perm][:, :, perm], spatial)


def test_hand_checked_new_layouts() -> None:
    op = get_layout("openpose25")
    assert op.joint_names[op.centre] == "neck" and op.joint_names[op.root] == "neck"
    assert op.parents[op.index("left_small_toe")] == op.index("left_big_toe")
    assert op.parents[op.index("left_big_toe")] == op.index("left_ankle")
    h36 = get_layout("h36m17")
    assert h36.joint_names[1] == "right_hip" and h36.joint_names[4] == "left_hip"  # not old mmpose's swap
    assert h36.parents[11] == h36.parents[14] == 8  # shoulders hang from the thorax
    smpl = get_layout("smpl24")
    assert smpl.parents[13] == smpl.parents[14] == 9  # collars hang from spine3 (official kintree)
    mp = get_layout("mediapipe33")
    coco = get_layout("coco17")
    to_coco = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    body = to_coco[5:]  # shoulders to ankles: the body is coco17's tree
    assert [to_coco.index(mp.parents[j]) for j in body] == list(coco.parents[5:])
    sbu = get_layout("sbu15")
    assert sbu.joint_names[sbu.centre] == "torso" and sbu.joint_names[sbu.root] == "neck"
    penn = get_layout("penn13")
    assert penn.flip_permutation[penn.index("left_ankle")] == penn.index("right_ankle")


def test_user_file_round_trips_and_gcn_options(tmp_path: Path) -> None:
    path = tmp_path / "lab5.yaml"
    path.write_text(USER_LAYOUT)
    lab = resolve_layout(str(path))
    assert lab.name == "lab5" and lab.parents == (0, 0, 1, 0, 0) and lab.centre == 1
    assert lab.flip_pairs == ((3, 4),) and lab.view_bones == ((0, 1), (4, 3)) and lab.partition_centre == 1
    assert lab.graph_adjacency()[3, 4] == 1 and lab.adjacency()[3, 4] == 0  # extra GCN edge, not a bone
    again = stored_layout("lab5", lab.to_dict())  # what a manifest or checkpoint stores
    assert again == lab and again.to_dict() == lab.to_dict()
    hops = partition_adjacency(lab, "spatial")
    assert hops[1, 1, 0] > 0 and hops[2, 0, 1] > 0  # spine -> pelvis centripetal (spine is the gcn centre)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            ("parents: [pelvis, pelvis, spine, pelvis, pelvis]", "parents: [spine, head, spine, pelvis, pelvis]"),
            r"joint 'pelvis' is in a parent cycle|exactly one root",
        ),
        (
            ("parents: [pelvis, pelvis, spine, pelvis, pelvis]", "parents: [pelvis, pelvis, spine, 7, pelvis]"),
            r"joint 'left_hip' has parent 7, out of range 0..4",
        ),
        (
            ("flip_pairs: [[left_hip, right_hip]]", "flip_pairs: [[left_hip, right_knee]]"),
            r"flip pair names unknown joint 'right_knee'",
        ),
        (("centre: spine", "centre: neck"), r"centre names unknown joint 'neck'"),
        (
            ("joints: [pelvis, spine, head, left_hip, right_hip]", "joints: [pelvis, spine, head, left_hip]"),
            r"5 parents for 4 joints",
        ),
        (("name: lab5", "name: lab5\ncolour: red"), r"unknown key 'colour'"),
    ],
)
def test_bad_declarations_are_one_line_errors_naming_file_and_joint(tmp_path: Path, edit, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(USER_LAYOUT.replace(*edit))
    with pytest.raises(LayoutError, match=message) as info:
        load_layout_file(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_cycle_error_names_the_joints(tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text(
        USER_LAYOUT.replace(
            "parents: [pelvis, pelvis, spine, pelvis, pelvis]", "parents: [pelvis, head, spine, pelvis, pelvis]"
        )
    )
    with pytest.raises(LayoutError, match=r"cycle.yaml: joint 'spine' is in a parent cycle \(spine -> head -> spine\)"):
        load_layout_file(path)


def test_joint_count_must_match_data() -> None:
    with pytest.raises(LayoutError, match=r"clips.npy: data has 15 joints but layout penn13 .*declares 13"):
        choose_layout(15, "clips.npy", "penn13")


def test_no_silent_guesses() -> None:
    with pytest.raises(LayoutError, match=r"17 2D joints fits several layouts \(coco17, h36m17\); pass --layout"):
        choose_layout(17, "x.pkl", dims=2)
    with pytest.raises(LayoutError, match=r"25 joints fits several layouts \(ntu25, openpose25\)"):
        choose_layout(25, "x.pkl")
    assert choose_layout(25, "x.pkl", dims=3).name == "ntu25"  # the only 3D one: assumed, and logged
    with pytest.raises(LayoutError, match=r"19 joints matches no built-in layout"):
        choose_layout(19, "x.pkl")
    with pytest.raises(LayoutError, match=r"unknown skeleton layout 'nope.txt'.*path of a layout file"):
        resolve_layout("nope.txt")


def test_joint_permutation_names_and_indices() -> None:
    lab = Layout("lab", ("a", "b", "c"), (0, 0, 1), 0, ())
    perm = joint_permutation("c,a,b", lab)  # the file stores c, a, b
    file_order = np.array([[2.0], [0.0], [1.0]])  # value = declared index of the joint at that position
    np.testing.assert_array_equal(file_order[perm, 0], [0, 1, 2])
    np.testing.assert_array_equal(joint_permutation("2,0,1", lab), perm)
    with pytest.raises(LayoutError, match="joint 'a' is listed twice"):
        joint_permutation("a,a,b", lab)
    with pytest.raises(LayoutError, match="2 joints given, layout lab has 3"):
        joint_permutation("a,b", lab)


def test_old_manifests_and_specs_with_only_a_name_still_work(tmp_path: Path) -> None:
    import json

    from ssl_skel.data.spec import InputSpec
    from ssl_skel.data.storage import open_native, write_arrays

    old = InputSpec.from_dict({"layout": "kinect20", "in_channels": 3, "num_persons": 1, "clip_length": 8})
    assert old.skeleton is get_layout("kinect20") and old.layout_def is None and old.preprocess is None
    root = write_arrays(
        tmp_path / "d",
        np.zeros((2, 3, 4, 20, 1), np.float32),
        labels=[0, 1],
        num_frames=[4, 4],
        names=["a", "b"],
        splits={"b": {"train": [0], "test": [1]}},
        layout="kinect20",
    )
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["layout_def"] == get_layout("kinect20").to_dict()  # new manifests store it in full
    del manifest["layout_def"], manifest["preprocess"]  # what an older converter wrote
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert open_native(root, "b", "train").skeleton is get_layout("kinect20")


# --------------------------------------------------------------------------- issue 25 item 12: large layouts
class WorkLimit(Exception):
    pass


class CountingName(str):
    """A joint name that counts how often it is compared (C-level scans such as tuple.index call __eq__)."""

    compared = 0

    def __eq__(self, other):
        CountingName.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def big_layout(v: int) -> dict:
    """A chain (the deepest tree: each joint's parent is the one before), names given as separate objects."""
    joints = [CountingName(f"j{i}") for i in range(v)]
    parents = [CountingName(f"j{max(i - 1, 0)}") for i in range(v)]
    pairs = [[CountingName(f"j{i}"), CountingName(f"j{i + 1}")] for i in range(1, v - 1, 2)]
    edges = [[CountingName(f"j{i}"), CountingName(f"j{v - 1 - i}")] for i in range(0, v // 2, 7)]
    return {"name": "big", "joints": joints, "parents": parents, "centre": CountingName("j0"),
            "flip_pairs": pairs, "gcn": {"edges": edges, "centre": CountingName("j1")}}  # fmt: skip


def layout_work(v: int, limit: int) -> int:
    """Python lines run in layouts.py plus joint-name comparisons to build (and rebuild from its stored form)
    a v-joint layout; WorkLimit once they pass `limit` (a quadratic check then stops early)."""
    import sys

    from ssl_skel.data import layouts

    lines = 0

    def local(frame, event, arg):
        nonlocal lines
        if event == "line":
            lines += 1
            if lines + CountingName.compared > limit:
                raise WorkLimit
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename == layouts.__file__ else None

    CountingName.compared = 0
    decl = big_layout(v)
    sys.settrace(tracer)
    try:
        layout = Layout.from_dict(decl, where="big.yaml")
        stored_layout("big", layout.to_dict())
    finally:
        sys.settrace(None)
    assert layout.num_joints == v and layout.parents[-1] == v - 2
    return lines + CountingName.compared


def test_a_3000_joint_layout_costs_linear_work():
    small = layout_work(300, limit=10**6)
    big = layout_work(3000, limit=20 * small)  # linear: ~10x the work of 300 joints; quadratic: ~100x
    assert big < 15 * small, (small, big)


def test_a_3000_joint_layout_file_loads(tmp_path):
    v = 3000
    path = tmp_path / "big.yaml"
    names = [f"j{i}" for i in range(v)]
    path.write_text(
        f"joints: [{', '.join(names)}]\nparents: [j0, {', '.join(names[:-1])}]\ncentre: j0\n"
        f"flip_pairs: [{', '.join(f'[j{i}, j{i + 1}]' for i in range(1, v - 1, 2))}]\n"
    )
    layout = load_layout_file(path)
    assert layout.num_joints == v and layout.parents[:3] == (0, 0, 1) and layout.flip_permutation[1] == 2
