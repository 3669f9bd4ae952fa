"""Skeleton layouts: one consistent declaration per layout (tree, bones, flips), hand-checked entries."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_skel.data.layouts import COCO17, KINECT_V1_20, LAYOUTS, NTU25, Layout, get_layout


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_parents_form_one_tree(layout: Layout) -> None:
    roots = [v for v, p in enumerate(layout.parents) if v == p]
    assert len(roots) == 1
    for v in range(layout.num_joints):  # every joint reaches the root without a cycle
        seen = set()
        while layout.parents[v] != v:
            assert v not in seen
            seen.add(v)
            v = layout.parents[v]
        assert v == roots[0]
    assert len(layout.bones) == layout.num_joints - 1


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_flip_permutation_swaps_left_and_right_names(layout: Layout) -> None:
    perm = layout.flip_permutation
    np.testing.assert_array_equal(perm[perm], np.arange(layout.num_joints))  # an involution
    for v, name in enumerate(layout.joint_names):
        mirrored = name.replace("left", "#").replace("right", "left").replace("#", "right")
        assert layout.joint_names[perm[v]] == mirrored
    for v, p in enumerate(layout.parents):  # a mirrored skeleton has the same bones
        assert layout.parents[perm[v]] == perm[p]
    assert perm[layout.centre] == layout.centre


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_adjacency_is_the_symmetric_bone_graph(layout: Layout) -> None:
    a = layout.adjacency()
    assert a.shape == (layout.num_joints,) * 2
    np.testing.assert_array_equal(a, a.T)
    assert a.sum() == 2 * len(layout.bones) and np.all(np.diag(a) == 0)


def test_hand_checked_entries() -> None:
    assert (NTU25.num_joints, KINECT_V1_20.num_joints, COCO17.num_joints) == (25, 20, 17)
    assert NTU25.joint_names[NTU25.centre] == "spine_mid"
    assert NTU25.parents[20] == 20  # spine_shoulder is the root
    assert NTU25.parents[3] == 2 and NTU25.parents[11] == 10  # head -> neck, right hand -> right wrist
    assert NTU25.parents[23] == 24 and NTU25.parents[24] == 11  # hand tip -> thumb -> hand
    assert (0, 1) in NTU25.bones and (12, 0) in NTU25.bones
    assert NTU25.flip_permutation[7] == 11 and NTU25.flip_permutation[19] == 15
    assert KINECT_V1_20.joint_names[KINECT_V1_20.centre] == "spine" and KINECT_V1_20.parents[3] == 2
    assert COCO17.parents[9] == 7 and COCO17.parents[0] == 0  # left wrist -> left elbow; nose root
    assert COCO17.adjacency()[5, 7] == 1 and COCO17.adjacency()[5, 6] == 0


def test_lookup_and_validation_errors() -> None:
    assert get_layout("ntu25") is NTU25
    with pytest.raises(ValueError, match=r"unknown skeleton layout 'ntu60' \(known: coco17, h36m17, kinect20, "):
        get_layout("ntu60")
    with pytest.raises(ValueError, match="2 parents for 3 joints"):
        Layout("bad", ("a", "b", "c"), (0, 0), 0, ())
    with pytest.raises(ValueError, match="out of range"):
        Layout("bad", ("a", "b"), (0, 5), 0, ())
