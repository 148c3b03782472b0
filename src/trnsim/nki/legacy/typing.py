"""``neuronxcc.nki.typing`` (``nt``): tensor annotations and placeholders.

``nt.tensor[shape, dtype]`` is a placeholder argument for benchmark/timing-only runs (and an
annotation): ``kernel(nt.tensor[[4096, 8192], nl.bfloat16])``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trnsim.nki.kernel import TensorSpec


class _TensorMeta(type):
    def __getitem__(cls, item: Any) -> Any:
        if not isinstance(item, tuple):
            item = (item,)
        shape: list[int] = []
        dtype: Any = np.float32
        for part in item:
            if isinstance(part, (list, tuple)):
                shape.extend(int(d) for d in part)
            elif isinstance(part, (int, np.integer)):
                shape.append(int(part))
            elif part is mutable:
                continue
            else:
                dtype = part
        return TensorSpec(tuple(shape), dtype)


class tensor(metaclass=_TensorMeta):
    """``nt.tensor[shape, dtype]``."""


class mutable_tensor(tensor):
    """A parameter the kernel may write."""


class _Mutable:
    pass


mutable = _Mutable()
scalar = float
