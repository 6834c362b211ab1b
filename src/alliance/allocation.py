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

__all__ = ["allocate"]


def make_rng(seed, rng: np.random.Generator | None = None) -> np.random.Generator:
    """The :class:`numpy.random.Generator` of ``seed`` (a whole number >= 0, or a generator,
    returned as it is); ``rng``, the former name of a generator, for one release."""
    if rng is not None:
        if seed is not None and seed is not rng:
            raise ValueError("give seed (a generator is a seed too), not both seed and rng, "
                             "its former name")
        seed = rng
    if seed is None:
        raise TypeError("a seed is required: a whole number >= 0 or a numpy.random.Generator "
                        "(record it: it reproduces the allocation)")
    return np.random.default_rng(check_seed(seed, generator=True))


def allocate(
    units: Sequence,
    *,
    seed: int | np.random.Generator | None = None,
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
    seed : int or numpy.random.Generator
        Required (keyword): a whole number >= 0 (the same seed gives the same list),
        or a generator (a study that allocates many trials from one stream). There
        is deliberately no default: a real trial is allocated once, and its list must
        be reproducible from a recorded seed (an unrecorded fresh seed could not be
        audited; a fixed default would give every trial that forgot it the same,
        predictable list). ``None`` in the signature only lets ``rng`` stand in for
        it for one release.
    rng : numpy.random.Generator, optional
        The former name of a generator ``seed`` (accepted for one release).
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
