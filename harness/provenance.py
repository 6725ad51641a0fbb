"""Where a number came from: code version, packages and device."""

import platform
import subprocess
import sys
from importlib import metadata

from harness import PROJECT_ROOT, __version__

PACKAGES = ("torch", "torchvision", "mmengine", "mmcv-lite", "mmsegmentation", "numpy")
#: Paths whose uncommitted changes can change a result.
CODE_PATHS = ("harness", "methods", "protocols", "pyproject.toml")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version() -> dict:
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--", *CODE_PATHS)
    return {"version": __version__, "git_sha": sha, "dirty": bool(status) if sha else None}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def peak_memory() -> dict[str, float | None]:
    """This process's peak memory so far, in MiB: resident set (the kernel's ``ru_maxrss``,
    KiB on Linux, bytes on macOS) and, on CUDA, the tensors' peak on the current device."""
    import resource

    import torch

    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    per_mib = 2**20 if sys.platform == "darwin" else 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mib
    return {"peak_rss_mib": round(rss, 1),
            "peak_cuda_mib": None if cuda is None else round(cuda, 1)}


def device_info(world_size: int, amp: str) -> dict:
    import torch

    if torch.cuda.is_available():
        kind, name, isa = "cuda", torch.cuda.get_device_name(0), None
    else:
        kind, name = "cpu", platform.processor() or platform.machine()
        # Other SIMD kernels give other float rounding, and a long CPU run then
        # diverges like another seed: records name the kernels they ran on.
        isa = torch.backends.cpu.get_cpu_capability()
    return {"type": kind, "name": name, "world_size": world_size, "amp": amp,
            "torch_threads": torch.get_num_threads(), "cpu_capability": isa}
