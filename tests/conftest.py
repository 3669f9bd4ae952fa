"""Shared fixtures. Real data in ../shared/data is optional: tests using it skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SSL_SKEL_SHARED_DATA", REPO.parent / "shared" / "data"))


def reference_checkouts() -> Path | None:
    """The folder of the authors' checkouts (parity tests), named only by $SSL_SKEL_REF; None when unset."""
    ref = os.environ.get("SSL_SKEL_REF", "").strip()
    return Path(ref) if ref else None


# keep the 2-core machine responsive when several test processes run
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real research data (never shipped); skip when it is not beside the repo."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (set SSL_SKEL_SHARED_DATA to its location)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A small built-in dataset (seed 0, 6 clips per class, 4 subjects, 24 frames): made once, only read."""
    from ssl_skel.data.synthetic import generate_dataset

    return generate_dataset(
        tmp_path_factory.mktemp("data") / "synthetic", seed=0, clips_per_class=6, num_subjects=4, max_frames=24
    )
