"""faiss on this machine: import it with its bundled OpenBLAS told the CPU's kernel family.

Why: the faiss-cpu wheel bundles an OpenBLAS (0.3.15) that does not know recent CPUs (e.g.
Emerald Rapids, cpuid model 207) and falls back to its generic "Prescott" SSE3 kernels,
several times slower sgemm than torch's MKL. `import_faiss()` sets OPENBLAS_CORETYPE
(SkylakeX on AVX-512 CPUs, Haswell on AVX2) before faiss is first imported, unless the user
set it; `faiss_openblas_core()` reports which kernels were picked (benchmarks print it).

faiss's loader logs at INFO each build it tries (AVX512-SPR, AVX512, AVX2, generic), including the
"Could not load library ... ModuleNotFoundError" of the builds the wheel lacks: seven lines on every
KNN run of a command (which logs at INFO). Its logger is set to WARNING here, before the first import,
unless the user gave it a level; nothing else about logging changes.
"""

from __future__ import annotations

import logging
import os
import sys


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def openblas_coretype_for_cpu(flags: set[str]) -> str | None:
    """OpenBLAS kernel family that an old OpenBLAS should use on a CPU with these flags."""
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags or {
        "avx512f",
        "avx512bw",
        "avx512vl",
    } <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def import_faiss():
    """Import faiss with its bundled OpenBLAS told the CPU's kernel family (see module doc)."""
    if "faiss" not in sys.modules and sys.platform.startswith("linux") and "OPENBLAS_CORETYPE" not in os.environ:
        core = openblas_coretype_for_cpu(cpu_flags())
        if core is not None:
            os.environ["OPENBLAS_CORETYPE"] = core
    loader = logging.getLogger("faiss.loader")
    if loader.level == logging.NOTSET:
        loader.setLevel(logging.WARNING)
    import faiss

    return faiss


def faiss_openblas_core() -> str | None:
    """Kernel family the OpenBLAS bundled with faiss-cpu picked ("Prescott" = slow generic), or None."""
    import ctypes
    import glob

    try:
        faiss = import_faiss()
        libs = glob.glob(
            os.path.join(os.path.dirname(os.path.dirname(faiss.__file__)), "faiss*.libs", "libopenblas*.so*")
        )
        if not libs:
            return None
        fn = ctypes.CDLL(libs[0]).openblas_get_corename
        fn.restype = ctypes.c_char_p
        return fn().decode()
    except (OSError, AttributeError, ImportError):
        return None


def faiss_gpu_available() -> bool:
    try:
        faiss = import_faiss()
        import torch

        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0 and torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - any failure means "no GPU index"
        return False
