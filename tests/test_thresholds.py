"""Default thresholds: chosen where written labels are right 9 times in 10, scored on other images."""

from __future__ import annotations

import numpy as np

from cinemanet_edit.training.thresholds import NEVER, choose_thresholds, coverage, cross_fitted


def scores(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two labels: label 0 right when sure, label 1 a coin toss at any score."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.5, 1.0, n)
    predicted = rng.integers(0, 2, n)
    p = np.where(predicted[:, None] == 0, np.c_[confidence, 1 - confidence], np.c_[1 - confidence, confidence])
    truth = np.where(predicted == 0, np.where(confidence > 0.8, 0, rng.integers(0, 2, n)), rng.integers(0, 2, n))
    return truth, p


def test_a_label_that_is_never_right_enough_is_never_written():
    y, p = scores(2000)
    limits = choose_thresholds(y, p, multi_label=False)
    assert 0.75 <= limits[0] <= 0.85 and limits[1] == NEVER
    got = coverage(y, p, limits, multi_label=False)
    assert got.precision >= 0.9 and 0.1 < got.share < 0.5
    assert coverage(y, p, np.zeros(2), multi_label=False).precision < 0.8  # every top label: far less sure


def test_cross_fitted_coverage_scores_images_the_thresholds_were_not_chosen_on():
    y, p = scores(1000, seed=1)
    groups, domains = np.arange(1000) // 2, np.where(np.arange(1000) < 600, "web", "film")
    covered = cross_fitted(y, p, groups, domains, multi_label=False)
    assert covered["all"].n == 1000 and covered["web"].n == 600 and covered["film"].n == 400
    assert covered["all"].written == covered["web"].written + covered["film"].written
    assert 0.8 <= covered["all"].precision <= 1.0


def test_a_multi_label_yes_below_even_odds_is_never_written():
    y = np.zeros(200, int)
    p = np.c_[np.linspace(0.31, 0.99, 200), np.full(200, 0.01)]  # every image of label 0, at any score
    assert choose_thresholds(y, p, multi_label=True)[0] == 0.5
    assert choose_thresholds(y, p, multi_label=False)[0] == 0.3


def test_a_label_measured_wrong_on_film_is_never_written_whatever_the_web_stills_say():
    from cinemanet_edit.training.thresholds import NEVER, choose_thresholds, film_vetoes

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.stack([np.where(y == 0, 0.95, 0.05), np.where(y == 1, 0.95, 0.05)], 1)  # perfect on these
    assert choose_thresholds(y, p, False).tolist() == [0.3, 0.3]
    never = film_vetoes(["shot.type.master", "shot.type.over-the-shoulder"])
    assert never.tolist() == [False, True]
    assert choose_thresholds(y, p, False, never=never).tolist() == [0.3, NEVER]
