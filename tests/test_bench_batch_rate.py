"""bench/speed/batch_rate.py: a GPU recipe's rate against its CPU sibling's."""

from bench.speed.batch_rate import Regime, verdict

CPU = Regime("small.yaml", batch_tokens=800, updates_per_epoch=611, lr=4e-3, schedule="plateau")


def gpu(lr: float) -> Regime:
    return Regime("gpu.yaml", batch_tokens=3200, updates_per_epoch=150, lr=lr, schedule="plateau")


def test_a_rate_under_the_cpu_siblings_is_flagged_with_the_factor_and_the_guide():
    assert verdict(gpu(1e-3), CPU) == "LOW: 4x under the CPU rate (sqrt-rule guide 8.0e-03)"


def test_a_rate_at_or_over_the_cpu_siblings_follows_it():
    assert verdict(gpu(4e-3), CPU).startswith("follows")
