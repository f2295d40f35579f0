"""Progress bars: tqdm on a terminal, silent when output is not a terminal (CI logs) or when switched off."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress(iterable: Iterable | None = None, *, desc: str, enabled: bool = True, **kwargs: Any) -> tqdm:
    kwargs.setdefault("leave", False)
    # disable=None lets tqdm switch itself off when stderr is not a terminal.
    return tqdm(iterable, desc=desc, disable=None if enabled else True, dynamic_ncols=True, **kwargs)
