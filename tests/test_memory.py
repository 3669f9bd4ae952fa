"""keep_freed_memory: glibc's large-block mapping off, idempotent, values unchanged."""

from __future__ import annotations

import sys

import pytest
import torch

from ssl_skel.core.memory import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_freed_memory_is_on_and_idempotent():
    a = torch.randn(2048, 2048)  # 16 MiB blocks allocated before and after give the same products
    before = a @ a
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
    torch.testing.assert_close(a @ a, before, rtol=0, atol=0)
