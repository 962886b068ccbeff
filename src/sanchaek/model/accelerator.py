"""One ``Accelerator`` per training run, also when several runs share a process.

Accelerate keeps a process-wide ``AcceleratorState``: once a run made it with one mixed precision, a
later ``Accelerator`` with another is refused ("AcceleratorState has already been initialized and
cannot be changed"). A sweep whose grid changes ``train.re_weight`` (bf16-master -> bf16 autocast), a
bench that trains and then aligns, or a notebook that calls ``train`` twice all meet that. The
distributed part (``PartialState``: the process group) is kept; only the precision state is reset.
"""

from __future__ import annotations

from typing import Any


def run_accelerator(mixed_precision: str, **kwargs: Any) -> Any:
    """``Accelerator(mixed_precision=..., **kwargs)``, resetting a leftover state of another precision."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=mixed_precision, **kwargs)
