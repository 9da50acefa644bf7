"""How much one variant differs from another in test accuracy, and whether that is more than noise.

Two sources of noise, two tests, both from SciPy:
- seed to seed: each variant is trained once per seed; Welch's t interval for the difference of the
  two variants' mean test accuracies (`scipy.stats.ttest_ind(equal_var=False)`). With two or more
  seeds a difference is *distinguishable* when this interval excludes 0.
- test image to test image: both variants classify the same test images; McNemar's exact test on the
  images exactly one of them gets right (`scipy.stats.binomtest`), per seed, and its exact interval of
  the accuracy difference (Clopper-Pearson, `BinomTestResult.proportion_ci`). With one seed this is all
  there is, and decides: it says the two *trained models* differ, not that another seed would agree.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def discordant_images(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """How many images only A got right and how many only B got right (`correct_*`: per-image booleans)."""
    return int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, int, int]:
    """McNemar's exact test of two classifiers on the same images (`correct_*`: per-image booleans): the
    two-sided p-value, and how many images only A got right and only B got right."""
    only_a, only_b = discordant_images(correct_a, correct_b)
    if only_a + only_b == 0:
        return 1.0, 0, 0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue), only_a, only_b


def image_interval(correct_a: np.ndarray, correct_b: np.ndarray, confidence: float) -> tuple[float, float]:
    """The exact interval, over the images, of B's accuracy minus A's: Clopper-Pearson's for the share of
    the discordant images that B got right, conditional on their count. It excludes 0 exactly when
    McNemar's exact test rejects at 1 − `confidence`, so the two never disagree."""
    only_a, only_b = discordant_images(correct_a, correct_b)
    discordant = only_a + only_b
    if discordant == 0:
        return 0.0, 0.0
    share = stats.binomtest(only_b, discordant, 0.5).proportion_ci(confidence_level=confidence, method="exact")
    scale = discordant / len(correct_a)  # B − A = discordant / N × (2 × share − 1)
    return scale * (2 * share.low - 1), scale * (2 * share.high - 1)


def seed_interval(accuracies_a: Sequence[float], accuracies_b: Sequence[float], confidence: float) -> tuple | None:
    """Welch's t interval of mean(B) − mean(A) over seeds; None with fewer than two seeds on a side, or
    when neither variant's accuracy varies over its seeds."""
    a, b = np.asarray(accuracies_a, float), np.asarray(accuracies_b, float)
    if min(len(a), len(b)) < 2:
        return None
    if a.std() == 0 and b.std() == 0:  # no spread measured at all: no interval to claim (McNemar decides)
        return None
    interval = stats.ttest_ind(b, a, equal_var=False).confidence_interval(confidence)
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class Effect:
    """B − A in test accuracy (fractions, not points), with its intervals and tests."""

    label: str  # what changes, e.g. "dropout on the cnn"
    baseline: str
    changed: str
    difference: float  # mean over seeds of B's test accuracy minus A's
    seeds: int  # the seeds both variants were trained with
    confidence: float
    interval: tuple[float, float] | None  # over seeds (None with one seed, or no spread to measure)
    image_interval: tuple[float, float]  # over the test images, the first common seed
    mcnemar: dict[int, float]  # seed -> McNemar's p on that seed's pair of models
    discordant: dict[int, tuple[int, int]]  # seed -> (images only A got right, only B)
    confounders: tuple[str, ...] = ()  # params besides the factor in which A and B differ

    @property
    def distinguishable(self) -> bool:
        """Beyond seed noise (two or more seeds: the interval excludes 0), or, with one seed, beyond
        test-set noise (McNemar's p below 1 − confidence)."""
        if self.interval is not None:
            return self.interval[0] > 0 or self.interval[1] < 0
        return min(self.mcnemar.values()) < 1 - self.confidence

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "baseline": self.baseline,
            "changed": self.changed,
            "difference": round(self.difference, 6),
            "seeds": self.seeds,
            "confidence": self.confidence,
            "interval": _rounded(self.interval),
            "image_interval": _rounded(self.image_interval),
            "mcnemar_p": {str(seed): p for seed, p in self.mcnemar.items()},
            "discordant": {str(seed): list(pair) for seed, pair in self.discordant.items()},
            "distinguishable": self.distinguishable,
            "confounders": list(self.confounders),
        }


def _rounded(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 6), round(interval[1], 6)]


def measure_effect(
    label: str,
    pair: tuple[str, str],
    correct: dict[str, dict[int, np.ndarray]],
    confidence: float,
    confounders: Sequence[str] = (),
) -> Effect:
    """The effect of going from `pair[0]` to `pair[1]`; `correct[variant][seed]`: which test images that
    variant's model of that seed classified right. Seeds that only one of them has are left out."""
    baseline, changed = pair
    seeds = sorted(set(correct[baseline]) & set(correct[changed]))
    if not seeds:
        raise ValueError(f"{baseline} and {changed} have no seed in common")
    accuracy = {name: [float(correct[name][seed].mean()) for seed in seeds] for name in pair}
    tests = {seed: mcnemar_exact(correct[baseline][seed], correct[changed][seed]) for seed in seeds}
    return Effect(
        label=label,
        baseline=baseline,
        changed=changed,
        difference=float(np.mean(accuracy[changed]) - np.mean(accuracy[baseline])),
        seeds=len(seeds),
        confidence=confidence,
        interval=seed_interval(accuracy[baseline], accuracy[changed], confidence),
        image_interval=image_interval(correct[baseline][seeds[0]], correct[changed][seeds[0]], confidence),
        mcnemar={seed: p for seed, (p, _, _) in tests.items()},
        discordant={seed: (a, b) for seed, (_, a, b) in tests.items()},
        confounders=tuple(confounders),
    )


def _points(value: float) -> str:
    return f"{value * 100:+.2f}".replace("-", "−")


def describe(effect: Effect, test_images: int, named: bool = True) -> str:
    """One sentence a reader can quote, e.g. `dropout on the cnn (cnn → cnn_dropout): +0.40 points
    (95% CI −0.10 to +0.90 over 3 seeds): not distinguishable from seed noise; McNemar p per seed: …`;
    with `named` False it starts at the difference, for a sentence that has named the pair already."""
    share = f"{effect.confidence:.0%}"
    head = f"{_points(effect.difference)} points"
    if named:
        head = f"{effect.label} ({effect.baseline} → {effect.changed}): {head}"
    mcnemar = ", ".join(f"{p:.2g}" if p > 0 else "< 1e-300" for p in effect.mcnemar.values())
    if effect.interval is not None:
        low, high = effect.interval
        spread = f"({share} CI {_points(low)} to {_points(high)} over {effect.seeds} seeds)"
        verdict = ("" if effect.distinguishable else "not ") + "distinguishable from seed noise"
        tests = f"McNemar's exact test on the {test_images:,} test images, per seed: p = {mcnemar}"
    else:
        low, high = effect.image_interval
        seeds = f"{effect.seeds} seed{'s' if effect.seeds > 1 else ''}"
        spread = f"({share} CI {_points(low)} to {_points(high)} over the {test_images:,} test images, {seeds})"
        verdict = "distinguishable" if effect.distinguishable else "not distinguishable"
        missing = (
            "seed-to-seed spread not measured: train more seeds" if effect.seeds == 1 else "no seed-to-seed spread"
        )
        verdict += f" from test-set noise ({missing})"
        tests = f"McNemar's exact test: p = {mcnemar}"
    sentence = f"{head} {spread}: {verdict}; {tests}."
    if effect.confounders:
        sentence += f" Confounded: the two also differ in {', '.join(effect.confounders)}."
    return sentence
