"""Cluster randomisation as code: the allocation procedure of the trial.

Therapists are the unit of randomisation. :func:`allocate` assigns units 1:1 to
the arms, optionally in permuted blocks and within strata, from an explicit
seed. It sits below both the generative model (:mod:`alliance.synthetic`, which
allocates the synthetic trial exactly as a real one would be allocated) and the
randomisation analyses (:mod:`alliance.randomise`, which re-run it for
randomisation inference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alliance.data.schema import CONDITIONS
from alliance.options import check_seed

__all__ = ["allocate", "make_rng"]


def make_rng(seed=None, rng: np.random.Generator | None = None) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``seed`` or the given ``rng`` (not both)."""
    if rng is not None and seed is not None:
        raise ValueError("give either seed or rng, not both")
    if seed is not None and rng is None:
        seed = check_seed(seed, generator=True)
    return rng if rng is not None else np.random.default_rng(seed)


def allocate(
    units: Sequence,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    block_size: int | None = None,
    strata: Mapping | None = None,
    arms: Sequence[str] = CONDITIONS,
) -> pd.DataFrame:
    """Allocate clusters (therapists) 1:1 to the arms.

    Parameters
    ----------
    units : sequence
        Cluster ids in the order they enter the trial (blocks follow this order).
    seed, rng : int or numpy.random.Generator, optional
        Source of randomness (give one; a fixed seed reproduces the list).
    block_size : int, optional
        Permuted blocks of this even size within each stratum. Without it, each
        stratum is split as evenly as possible by one random permutation
        (an odd stratum gives its extra unit to a randomly chosen arm).
    strata : mapping, optional
        ``{unit: stratum}``; allocation is balanced within each stratum.
    arms : sequence of str
        The two arm labels.

    Returns
    -------
    pandas.DataFrame
        The allocation list: ``unit``, ``stratum``, ``block``, ``condition``,
        one row per unit in input order.

    Notes
    -----
    Within a stratum, units are cut into consecutive blocks of ``block_size``
    (the last block may be shorter); each block receives equally many labels of
    each arm (one extra, drawn at random, if the block is odd) in a random
    order. Every block, and hence every stratum and the whole list, is exactly
    1:1 when its size is even. The shipped synthetic trial was allocated by
    ``allocate(therapists, seed=EXAMPLE_SEED)`` (one stratum, no blocks).

    Examples
    --------
    >>> from alliance.allocation import allocate
    >>> alloc = allocate([f"T{i:02d}" for i in range(1, 9)], seed=1, block_size=4)
    >>> alloc["condition"].value_counts().to_dict()
    {'control': 4, 'training': 4}
    """
    units = list(units)
    if len(set(units)) != len(units):
        raise ValueError("allocate: unit ids must be unique")
    if len(arms) != 2:
        raise ValueError("allocate: exactly two arms")
    if block_size is not None and (block_size < 2 or block_size % 2):
        raise ValueError("allocate: block_size must be a positive even number")
    gen = make_rng(seed, rng)
    strata = dict(strata) if strata is not None else {u: "all" for u in units}
    missing = [u for u in units if u not in strata]
    if missing:
        raise ValueError(f"allocate: no stratum for unit(s) {missing[:5]}")
    records: dict = {}
    for stratum in dict.fromkeys(strata[u] for u in units):
        members = [u for u in units if strata[u] == stratum]
        size = block_size or len(members)
        for b, start in enumerate(range(0, len(members), size)):
            block = members[start : start + size]
            labels = [arms[i % 2] for i in range(len(block))]
            if len(block) % 2:
                labels[-1] = arms[int(gen.integers(2))]
            labels = list(gen.permutation(labels))
            for u, lab in zip(block, labels):
                records[u] = (stratum, b + 1, str(lab))
    return pd.DataFrame(
        [(u, *records[u]) for u in units],
        columns=["unit", "stratum", "block", "condition"],
    )
