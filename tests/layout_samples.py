"""The one user layout the tests share: a lab's five-joint 3D export, declared as a user would."""

from __future__ import annotations

from pathlib import Path

LAB5 = """\
# a lab's five-joint export (3D, metres)
name: lab5
dims: [3]
joints: [pelvis, spine, head, left_hip, right_hip]
parents: [pelvis, pelvis, spine, pelvis, pelvis]
centre: spine
flip_pairs: [[left_hip, right_hip]]
"""
# the same layout with the optional GCN partition and view-alignment bones
LAB5_FULL = LAB5 + (
    "gcn: {centre: spine, edges: [[left_hip, right_hip]]}\nview_bones: {z: [pelvis, spine], x: [right_hip, left_hip]}\n"
)


def write_lab5(folder: Path, text: str = LAB5) -> Path:
    path = folder / "lab5.yaml"
    path.write_text(text)
    return path
