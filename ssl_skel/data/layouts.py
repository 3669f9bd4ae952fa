"""Skeleton layouts, declared once as data and reused by every transform and model.

Why: the skeleton literature writes the NTU joint connections several times (0- and
1-indexed, per repository). Here each layout is one 0-indexed declaration: joint names,
each joint's parent (the root is its own parent, so its bone is zero), the centre joint
used to centre clips, and left/right pairs used by flips.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Layout:
    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]  # parents[v] = parent joint of v; root: parents[v] == v
    centre: int  # joint whose first-frame position becomes the origin
    flip_pairs: tuple[tuple[int, int], ...]  # (left, right) joints swapped by a mirror flip

    def __post_init__(self) -> None:
        v = len(self.joint_names)
        if len(self.parents) != v:
            raise ValueError(f"layout {self.name}: {len(self.parents)} parents for {v} joints")
        if not all(0 <= p < v for p in self.parents) or not 0 <= self.centre < v:
            raise ValueError(f"layout {self.name}: joint index out of range")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs, the root's self-loop left out."""
        return tuple((c, p) for c, p in enumerate(self.parents) if c != p)

    @cached_property
    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps left and right joints: x[..., perm, :] mirrors names."""
        perm = np.arange(self.num_joints)
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm

    def adjacency(self) -> np.ndarray:
        """Symmetric (V, V) 0/1 adjacency without self-loops."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for c, p in self.bones:
            a[c, p] = a[p, c] = 1.0
        return a


NTU25 = Layout(
    name="ntu25",
    joint_names=(
        "spine_base", "spine_mid", "neck", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
        "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
    ),
    # the bone pairs of ST-GCN / CTR-GCN (spine_shoulder is the root, hand tip -> thumb -> hand)
    parents=(1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 20, 22, 7, 24, 11),
    centre=1,
    flip_pairs=((4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19), (21, 23), (22, 24)),
)

KINECT_V1_20 = Layout(
    name="kinect20",
    joint_names=(
        "hip_centre", "spine", "shoulder_centre", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
    ),
    # CTR-GCN's NW-UCLA bone pairs; shoulder_centre is the root
    parents=(1, 2, 2, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18),
    centre=1,
    flip_pairs=((4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19)),
)

COCO17 = Layout(
    name="coco17",
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    # pyskl's COCO tree rooted at the nose
    parents=(0, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    centre=0,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (NTU25, KINECT_V1_20, COCO17)}


def get_layout(name: str) -> Layout:
    """Look a layout up by name, with an error that lists the known ones."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown skeleton layout {name!r} (known: {', '.join(sorted(LAYOUTS))})")
    return LAYOUTS[name]


LAYOUT_BY_JOINTS = {25: "ntu25", 20: "kinect20", 17: "coco17"}  # joint count -> layout, for readers


def layout_for_joints(num_joints: int, where: str = "") -> str:
    if num_joints not in LAYOUT_BY_JOINTS:
        known = ", ".join(f"{v} ({n})" for v, n in LAYOUT_BY_JOINTS.items())
        raise ValueError(f"{where}{num_joints} joints matches no known layout (known: {known})")
    return LAYOUT_BY_JOINTS[num_joints]
