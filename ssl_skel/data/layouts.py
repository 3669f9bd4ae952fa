"""Skeleton layouts, declared once as data and reused by every transform and model.

Why: the skeleton literature writes the NTU joint connections several times (0- and
1-indexed, per repository). Here each layout is one 0-indexed declaration, a YAML file:
joint names, each joint's parent (the root is its own parent, so its bone is zero), the
centre joint used to centre clips, left/right pairs used by flips and, optionally, the GCN
graph (extra edges, partition centre) and the two bones of view alignment. The built-ins
ship inside the package (`ssl_skel/data/layout_files/*.yaml`); a user's file is read by
path (`--layout my_lab.yaml`). Datasets and checkpoints store the declaration in full
(`Layout.to_dict`), so nothing needs the file again.

A declaration file:

    name: my_lab                 # optional; default: the file name
    dims: [3]                    # coordinate dimensions it is used with (2 and/or 3)
    joints: [pelvis, spine, head, left_hip, right_hip]
    parents: [pelvis, pelvis, spine, pelvis, pelvis]    # names or 0-based indices; root = itself
    centre: pelvis
    flip_pairs: [[left_hip, right_hip]]
    gcn: {centre: spine, edges: [[left_hip, right_hip]]}   # optional: graph centre, extra edges
    view_bones: {z: [pelvis, spine], x: [right_hip, left_hip]}   # optional, for --align-view
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ssl_skel.core.config import ConfigError, parse_yaml

log = logging.getLogger(__name__)

LAYOUT_KEYS = ("name", "aliases", "dims", "joints", "parents", "centre", "flip_pairs", "gcn", "view_bones")
REQUIRED_KEYS = ("joints", "parents", "centre")


class LayoutError(ValueError):
    """A layout declaration that cannot be used; the message names the file and the joint."""


@dataclass(frozen=True)
class Layout:
    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]  # parents[v] = parent joint of v; root: parents[v] == v
    centre: int  # joint whose first-frame position becomes the origin
    flip_pairs: tuple[tuple[int, int], ...]  # (left, right) joints swapped by a mirror flip
    graph_edges: tuple[tuple[int, int], ...] = ()  # GCN edges beyond the bones (e.g. a torso box)
    graph_centre: int | None = None  # centre of the GCN spatial partition; None: the tree's root
    view_bones: tuple[tuple[int, int], tuple[int, int]] | None = None  # (z bone, x bone) for view alignment
    dims: tuple[int, ...] = (2, 3)  # coordinate dimensions the layout is used with
    source: str = field(default="", compare=False)  # file it was read from, for error messages

    def __post_init__(self) -> None:
        where = self.source or f"layout {self.name}"
        v = len(self.joint_names)
        if v == 0:
            raise LayoutError(f"{where}: no joints")
        if len(self._positions) != v:
            dup = next(n for n, count in Counter(self.joint_names).items() if count > 1)
            raise LayoutError(f"{where}: joint {dup!r} is declared twice")
        if len(self.parents) != v:
            raise LayoutError(f"{where}: {len(self.parents)} parents for {v} joints")
        for j, p in enumerate(self.parents):
            if not 0 <= p < v:
                raise LayoutError(f"{where}: joint {self.joint_names[j]!r} has parent {p}, out of range 0..{v - 1}")
        for name, joint in (("centre", self.centre), ("gcn centre", self.graph_centre)):
            if joint is not None and not 0 <= joint < v:
                raise LayoutError(f"{where}: {name} joint index {joint} out of range 0..{v - 1}")
        self._check_tree(where)
        seen: set[int] = set()
        for pair in self.flip_pairs:
            for j in pair:
                if not 0 <= j < v:
                    raise LayoutError(f"{where}: flip pair {list(pair)} names joint index {j}, out of range 0..{v - 1}")
                if j in seen:
                    raise LayoutError(f"{where}: joint {self.joint_names[j]!r} appears in two flip pairs")
                seen.add(j)
            if pair[0] == pair[1]:
                raise LayoutError(f"{where}: flip pair pairs joint {self.joint_names[pair[0]]!r} with itself")
        for a, b in self.graph_edges + tuple(self.view_bones or ()):
            if not (0 <= a < v and 0 <= b < v):
                raise LayoutError(f"{where}: edge {[a, b]} names a joint index out of range 0..{v - 1}")
        if not self.dims or any(d not in (2, 3) for d in self.dims):
            raise LayoutError(f"{where}: dims {list(self.dims)} must list 2 and/or 3")

    def _check_tree(self, where: str) -> None:
        roots = [j for j, p in enumerate(self.parents) if j == p]
        if len(roots) != 1:
            named = ", ".join(repr(self.joint_names[j]) for j in roots) or "none"
            raise LayoutError(f"{where}: a layout needs exactly one root joint (its own parent); found {named}")
        # each joint is walked towards the root once: a walk stops at a joint already known to reach it
        state = [0] * len(self.parents)  # 0: not seen, 1: on the current walk, 2: reaches the root
        state[roots[0]] = 2
        for start in range(len(self.parents)):
            path, j = [], start
            while state[j] == 0:
                state[j] = 1
                path.append(j)
                j = self.parents[j]
            if state[j] == 1:  # the walk met itself
                loop = path[path.index(j) :] + [j]
                cycle = " -> ".join(self.joint_names[k] for k in loop)
                raise LayoutError(f"{where}: joint {self.joint_names[start]!r} is in a parent cycle ({cycle})")
            for k in path:
                state[k] = 2

    # ----------------------------------------------------------------- the attribute API
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def root(self) -> int:
        return next(v for v, p in enumerate(self.parents) if v == p)

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
        """Symmetric (V, V) 0/1 adjacency of the bones, without self-loops."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for c, p in self.bones:
            a[c, p] = a[p, c] = 1.0
        return a

    def graph_adjacency(self) -> np.ndarray:
        """Symmetric (V, V) 0/1 adjacency of the GCN graph: the bones plus the declared extra edges."""
        a = self.adjacency()
        for i, j in self.graph_edges:
            a[i, j] = a[j, i] = 1.0
        return a

    @property
    def partition_centre(self) -> int:
        """The joint the GCN spatial partition measures distances to (ST-GCN's `center`)."""
        return self.root if self.graph_centre is None else self.graph_centre

    @cached_property
    def _positions(self) -> dict[str, int]:
        """joint name -> index (a dict, so looking names up stays linear in the layout's size)."""
        return {name: j for j, name in enumerate(self.joint_names)}

    def index(self, joint: str | int, where: str = "") -> int:
        """A joint given by name or 0-based index -> its index; LayoutError naming it otherwise."""
        return _joint_index(joint, self._positions, where or self.source or f"layout {self.name}")

    # ----------------------------------------------------------------- as data
    def to_dict(self) -> dict[str, Any]:
        """Plain types only (names and indices): stored in manifests and checkpoints."""
        out: dict[str, Any] = {
            "name": self.name,
            "dims": list(self.dims),
            "joints": list(self.joint_names),
            "parents": list(self.parents),
            "centre": self.centre,
            "flip_pairs": [list(p) for p in self.flip_pairs],
        }
        if self.graph_edges or self.graph_centre is not None:
            out["gcn"] = {"edges": [list(e) for e in self.graph_edges], "centre": self.graph_centre}
        if self.view_bones is not None:
            out["view_bones"] = {"z": list(self.view_bones[0]), "x": list(self.view_bones[1])}
        return out

    @classmethod
    def from_dict(cls, decl: Any, where: str = "", name: str | None = None) -> Layout:
        """Build and validate a declaration (see the module docstring); errors name `where` and the joint."""
        where = where or "layout declaration"
        if not isinstance(decl, dict):
            raise LayoutError(f"{where}: a layout declaration is a mapping, got {type(decl).__name__}")
        unknown = sorted(set(decl) - set(LAYOUT_KEYS))
        if unknown:
            raise LayoutError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(LAYOUT_KEYS)})")
        missing = [k for k in REQUIRED_KEYS if k not in decl]
        if missing:
            raise LayoutError(f"{where}: missing key {missing[0]!r}")
        joints = decl["joints"]
        if not isinstance(joints, list) or not all(isinstance(j, str) and j for j in joints):
            raise LayoutError(f"{where}: 'joints' must be a list of joint names")
        names = tuple(joints)
        positions = {n: j for j, n in enumerate(names)}
        if len(positions) != len(names):
            dup = next(n for n, count in Counter(names).items() if count > 1)
            raise LayoutError(f"{where}: joint {dup!r} is declared twice")
        parents = decl["parents"]
        if not isinstance(parents, list):
            raise LayoutError(f"{where}: 'parents' must be a list (one parent per joint, names or indices)")
        if len(parents) != len(names):
            raise LayoutError(f"{where}: {len(parents)} parents for {len(names)} joints")
        parent_idx = []
        for j, p in enumerate(parents):
            if isinstance(p, int) and not isinstance(p, bool) and not 0 <= p < len(names):
                raise LayoutError(f"{where}: joint {names[j]!r} has parent {p}, out of range 0..{len(names) - 1}")
            parent_idx.append(_joint_index(p, positions, where, f"parent of joint {names[j]!r}"))
        pairs = decl.get("flip_pairs") or []
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise LayoutError(f"{where}: 'flip_pairs' must be a list of [left, right] pairs")
        flips = tuple(tuple(_joint_index(j, positions, where, "flip pair") for j in p) for p in pairs)
        gcn = decl.get("gcn") or {}
        if not isinstance(gcn, dict) or set(gcn) - {"edges", "centre"}:
            raise LayoutError(f"{where}: 'gcn' takes 'edges' (list of [a, b]) and 'centre' (a joint)")
        edges = tuple(tuple(_joint_index(j, positions, where, "gcn edge") for j in e) for e in gcn.get("edges") or [])
        graph_centre = gcn.get("centre")
        views = decl.get("view_bones")
        view_bones = None
        if views is not None:
            if not isinstance(views, dict) or set(views) != {"z", "x"}:
                raise LayoutError(f"{where}: 'view_bones' must be {{z: [from, to], x: [from, to]}}")
            view_bones = tuple(
                tuple(_joint_index(j, positions, where, "view bone") for j in views[k]) for k in ("z", "x")
            )
        dims = decl.get("dims", [2, 3])
        return cls(
            name=str(decl.get("name") or name or "custom"),
            joint_names=names,
            parents=tuple(parent_idx),
            centre=_joint_index(decl["centre"], positions, where, "centre"),
            flip_pairs=flips,
            graph_edges=edges,
            graph_centre=None if graph_centre is None else _joint_index(graph_centre, positions, where, "gcn centre"),
            view_bones=view_bones,
            dims=tuple(int(d) for d in (dims if isinstance(dims, list) else [dims])),
            source=where,
        )

    def check_joints(self, num_joints: int, where: str) -> None:
        """LayoutError when data at `where` has another joint count than the layout."""
        if num_joints != self.num_joints:
            raise LayoutError(
                f"{where}: data has {num_joints} joints but layout {self.name}"
                f"{' (' + self.source + ')' if self.source else ''} declares {self.num_joints}"
            )


def _joint_index(joint: Any, positions: dict[str, int], where: str, what: str = "joint") -> int:
    """positions: joint name -> index, one entry per joint."""
    if isinstance(joint, bool) or not isinstance(joint, (int, str)):
        raise LayoutError(f"{where}: {what} {joint!r} is neither a joint name nor an index")
    if isinstance(joint, int):
        if not 0 <= joint < len(positions):
            raise LayoutError(f"{where}: {what} names joint index {joint}, out of range 0..{len(positions) - 1}")
        return joint
    if joint not in positions:
        raise LayoutError(f"{where}: {what} names unknown joint {joint!r}")
    return positions[joint]


# --------------------------------------------------------------------------- files
def load_layout_file(path: str | Path) -> Layout:
    """Read a user's layout declaration (YAML); errors are one line naming the file and the joint."""
    path = Path(path)
    try:
        decl = parse_yaml(path.read_text(), str(path))  # capped: alias bombs and deep nesting are refused
    except FileNotFoundError:
        raise LayoutError(f"{path}: layout file not found") from None
    except ConfigError as exc:
        raise LayoutError(str(exc)) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LayoutError(f"{path}: not a readable YAML layout file ({reason})") from None
    return Layout.from_dict(decl, where=str(path), name=path.stem)


def _builtin_layouts() -> tuple[dict[str, Layout], dict[str, str]]:
    layouts: dict[str, Layout] = {}
    aliases: dict[str, str] = {}
    folder = resources.files("ssl_skel.data") / "layout_files"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        decl = yaml.safe_load(entry.read_text())
        layout = Layout.from_dict(decl, where=f"ssl_skel/data/layout_files/{entry.name}")
        layouts[layout.name] = layout
        for alias in decl.get("aliases") or []:
            aliases[alias] = layout.name
    return layouts, aliases


LAYOUTS, ALIASES = _builtin_layouts()
NTU25 = LAYOUTS["ntu25"]
KINECT_V1_20 = LAYOUTS["kinect20"]
COCO17 = LAYOUTS["coco17"]


def get_layout(name: str) -> Layout:
    """Look a built-in layout up by name, with an error that lists the known ones."""
    name = ALIASES.get(name, name)
    if name not in LAYOUTS:
        raise LayoutError(f"unknown skeleton layout {name!r} (known: {', '.join(sorted(LAYOUTS))})")
    return LAYOUTS[name]


def resolve_layout(spec: str | Path | Layout) -> Layout:
    """A built-in name, a path to a declaration file, or a Layout -> the Layout (`--layout NAME|PATH`)."""
    if isinstance(spec, Layout):
        return spec
    text = str(spec)
    if text in LAYOUTS or text in ALIASES:
        return get_layout(text)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_layout_file(text)
    raise LayoutError(
        f"unknown skeleton layout {text!r} (known: {', '.join(sorted(LAYOUTS))}; or give the path of a layout file)"
    )


def stored_layout(name: str, definition: dict | None, where: str = "") -> Layout:
    """The layout a manifest or checkpoint stores: its full definition, or (older files) a built-in name."""
    if definition:
        return Layout.from_dict(definition, where=where or f"stored layout {name}")
    return get_layout(name)


def candidates(num_joints: int, dims: int | None = None) -> list[str]:
    """Built-in layouts with `num_joints` joints (and used with `dims` coordinates, when given)."""
    return sorted(
        n for n, lay in LAYOUTS.items() if lay.num_joints == num_joints and (dims is None or dims in lay.dims)
    )


def choose_layout(
    num_joints: int, where: str, requested: str | Path | Layout | None = None, dims: int | None = None
) -> Layout:
    """The layout of data with `num_joints` joints: the requested one (checked), else the only candidate.

    No silent guesses: several candidates is an error that lists them; one is logged as assumed.
    """
    if requested is not None:
        layout = resolve_layout(requested)
        layout.check_joints(num_joints, where)
        return layout
    names = candidates(num_joints, dims)
    kind = f"{dims}D " if dims else ""
    if not names:
        known = ", ".join(f"{n} ({LAYOUTS[n].num_joints})" for n in sorted(LAYOUTS))
        raise LayoutError(
            f"{where}: {num_joints} {kind}joints matches no built-in layout (known: {known}); "
            "pass --layout with a layout file"
        )
    if len(names) > 1:
        raise LayoutError(
            f"{where}: {num_joints} {kind}joints fits several layouts ({', '.join(names)}); "
            "pass --layout NAME or a layout file"
        )
    log.info("%s: %d %sjoints: assuming layout %s (pass --layout to choose another)", where, num_joints, kind, names[0])
    return LAYOUTS[names[0]]


def layout_for_joints(num_joints: int, where: str = "", dims: int | None = None) -> str:
    """Name of the only built-in layout with `num_joints` joints (see `choose_layout`)."""
    return choose_layout(num_joints, where.rstrip(": ") or "data", dims=dims).name


def joint_permutation(order: str | list, layout: Layout, where: str = "") -> np.ndarray:
    """`--joint-order`: the file's joints (names or indices of `layout`, comma-separated or a list) ->
    index array `perm` with `declared = file[..., perm, :]`, i.e. perm[v] = file position of joint v.
    """
    items = [s.strip() for s in order.split(",")] if isinstance(order, str) else list(order)
    where = where or "--joint-order"
    if len(items) != layout.num_joints:
        raise LayoutError(f"{where}: {len(items)} joints given, layout {layout.name} has {layout.num_joints}")
    file_joints = [layout.index(int(s) if isinstance(s, str) and s.lstrip("-").isdigit() else s, where) for s in items]
    if len(set(file_joints)) != len(file_joints):
        dup = next(j for j, count in Counter(file_joints).items() if count > 1)
        raise LayoutError(f"{where}: joint {layout.joint_names[dup]!r} is listed twice")
    perm = np.empty(layout.num_joints, dtype=np.int64)
    for position, joint in enumerate(file_joints):
        perm[joint] = position
    return perm


# --------------------------------------------------------------------------- GCN graph
def hop_distance(layout: Layout) -> np.ndarray:
    """(V, V) shortest-path lengths along the GCN graph (BFS over bones plus declared edges)."""
    v = layout.num_joints
    neighbours = [np.flatnonzero(row).tolist() for row in layout.graph_adjacency()]
    dist = np.full((v, v), np.inf)
    for source in range(v):
        dist[source, source] = 0
        frontier = [source]
        while frontier:
            nxt = []
            for node in frontier:
                for n in neighbours[node]:
                    if np.isinf(dist[source, n]):
                        dist[source, n] = dist[source, node] + 1
                        nxt.append(n)
            frontier = nxt
    return dist


def partition_adjacency(layout: Layout, strategy: str = "spatial") -> np.ndarray:
    """(K, V, V) normalised adjacency; A[k, v, w] weights input joint v into output joint w.

    Each column is divided by the degree of the output joint (self-loop included), so a
    joint averages its neighbourhood, as ST-GCN's `normalize_digraph`. "spatial" (K=3):
    self, centripetal (input closer to the partition centre), centrifugal; "distance"
    (K=2): self, neighbours; "uniform" (K=1). "ctrgcn" (K=3): CTR-GCN's graph, see
    `ctrgcn_adjacency`.
    """
    if strategy == "ctrgcn":
        return ctrgcn_adjacency(layout)
    hops = hop_distance(layout)
    reach = (hops <= 1).astype(np.float32)  # 1-hop neighbourhood with self-loops
    norm = reach / reach.sum(axis=0, keepdims=True)
    if strategy == "uniform":
        return norm[None]
    self_loops = np.where(hops == 0, norm, 0.0)
    neighbours = np.where(hops == 1, norm, 0.0)
    if strategy == "distance":
        return np.stack([self_loops, neighbours]).astype(np.float32)
    if strategy == "spatial":
        to_centre = hops[:, layout.partition_centre]
        closer = to_centre[:, None] < to_centre[None, :]
        centripetal = np.where(closer, neighbours, 0.0)
        centrifugal = np.where(~closer, neighbours, 0.0)
        return np.stack([self_loops, centripetal, centrifugal]).astype(np.float32)
    raise ValueError(f"unknown graph partition {strategy!r} (known: spatial, uniform, distance, ctrgcn)")


def ctrgcn_adjacency(layout: Layout) -> np.ndarray:
    """(3, V, V) CTR-GCN's "spatial" graph from the layout's bones, as A[k, v, w] (input v -> output w).

    k = 0: self (weight 1); k = 1 (their inward): each bone's child feeds its parent with weight
    1 / (parents of the child) = 1, so a parent SUMS its children; k = 2 (their outward): each
    parent feeds each child with weight 1 / (children of the parent). Unlike ST-GCN's, nothing
    is averaged over the output joint's neighbourhood, and the partition follows bone direction
    (child -> parent), not hop distance to a centre. Only the bones count (`gcn.edges` are not
    directed, CTR-GCN's graphs have none).
    """
    v = layout.num_joints
    inward = np.zeros((v, v), dtype=np.float64)  # inward[child, parent]: input child -> output parent
    for child, parent in layout.bones:
        inward[child, parent] = 1.0
    outward = inward.T.copy()  # input parent -> output child

    def by_input(a: np.ndarray) -> np.ndarray:  # each input's weights divided by how many outputs it feeds
        fan = a.sum(axis=1, keepdims=True)
        return np.divide(a, fan, out=np.zeros_like(a), where=fan > 0)

    return np.stack([np.eye(v), by_input(inward), by_input(outward)]).astype(np.float32)
