"""The random split both engine harnesses use: cut points seeded from the input, so a finding reproduces."""

from __future__ import annotations

import random
import zlib


def random_split(data: bytes, most_cuts: int = 8) -> list[bytes]:
    """``data`` cut at 1 to ``most_cuts - 1`` points chosen by a generator seeded with its CRC-32."""
    rng = random.Random(zlib.crc32(data))
    cuts = sorted({rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, most_cuts))} | {0, len(data)})
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
