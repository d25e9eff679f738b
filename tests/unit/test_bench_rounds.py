"""How benchmark rounds become figures: a ratio is taken within each round, then its median
and min-max; counts add up over every round. No timing here."""

from __future__ import annotations

import pytest

import producer_pool
from benchmarks.paired import CASES, package_at, paired
from benchmarks.rounds import Spread, alternate, fold, ratio, spread


def test_a_ratio_is_taken_within_each_round_then_summarised():
    # the machine slowed down in round 2 for both sides: the ratio does not move
    assert ratio([2.0, 4.0, 3.0], [1.0, 2.0, 1.0]) == Spread(2.0, 2.0, 3.0, 3)
    with pytest.raises(ValueError, match="3 rounds against 2"):
        ratio([1.0, 2.0, 3.0], [1.0, 2.0])


def test_a_cost_turned_into_a_rate_swaps_its_slowest_and_fastest_rounds():
    assert Spread.of([1e-6, 2e-6, 4e-6]).inverse() == Spread(5e5, 2.5e5, 1e6, 3)
    assert Spread(1.0, 0.5, 2.0, 5).format(".2f") == "1.00 (0.50\u20132.00)"


def test_contenders_take_turns_and_counts_add_up():
    order = []

    def contender(name, msg_s):
        def run():
            order.append(name)
            return {"msg_s": msg_s.pop(0), "sent": 10, "read_back": 10, "codes": [0]}

        return run

    runs = alternate({"a": contender("a", [1, 3, 2]), "b": contender("b", [5, 5, 5])}, 3)
    assert order == ["a", "b"] * 3
    folded = fold(runs["a"], counts=("sent", "read_back"))
    assert spread(folded["msg_s"]) == Spread(2, 1, 3, 3)
    assert folded["msg_s"]["values"] == [1, 3, 2]
    assert (folded["sent"], folded["read_back"], folded["codes"]) == (30, 30, [[0], [0], [0]])


def test_the_paired_benchmark_measures_another_commit_beside_this_tree():
    """Both sides in one process: the other commit's package under its own name."""
    with package_at("HEAD") as before:
        assert before.__name__ == "producer_pool_HEAD"
        assert before.ProducerPool is not producer_pool.ProducerPool
        with before.ProducerPool(object, max_size=1) as pool, pool.acquire() as leased:
            assert type(leased) is object
    figures = paired("HEAD", rounds=2, leases=64)
    assert set(figures) == set(CASES)
    assert all(f["ratio"].rounds == 2 and f["ratio"].median > 0 for f in figures.values())
