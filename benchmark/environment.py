"""What produced a result: package versions, git revision, device."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from .errors import UserError

PACKAGES = ("unlearn-bench", "torch", "torchvision", "pluggy", "numpy")


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


@functools.cache
def git_revision() -> dict[str, Any] | None:
    """The revision of the unlearn-bench checkout that is running, and whether it had uncommitted changes.

    None when unlearn-bench runs from an installed package rather than from a git checkout.
    """
    source = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=source)
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=source,
        )
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.TimeoutExpired):
        return None


def cpu_model() -> str:
    """The CPU's model name (results computed on different CPUs may differ in the last bits)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


@functools.cache
def _static() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
        "git": git_revision(),
    }


def environment(device: torch.device) -> dict[str, Any]:
    return {
        **_static(),
        "device": {
            "type": device.type,
            "name": device_name(device),
            # The SIMD kernels torch chose: CPUs with different ones give (slightly) different numbers.
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(),
        },
    }


def pick_device(requested: str | None) -> torch.device:
    """``requested`` if given, else CUDA when available, else the CPU. A device that is not there is a UserError."""
    if not requested:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UserError(f"--device: '{requested}' is not a torch device (expected cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise UserError(f"--device: '{requested}' is not available here ({count} CUDA devices)")
    elif device.type != "cpu":
        raise UserError(f"--device: '{requested}' is not supported (expected cpu, cuda or cuda:N)")
    return device
