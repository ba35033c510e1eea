"""Agreement statistics on hand-computed examples, and their bootstrap intervals."""

from __future__ import annotations

import pytest

from drevalkit.stats import agreement as A


def test_confusion_rows_are_people_columns_are_dreval():
    human = ["right", "right", "wrong", "unknown", "wrong"]
    machine = ["right", "wrong", "wrong", "right", "unknown"]
    assert A.confusion(human, machine, A.VERDICT_LABELS) == [[1, 1, 0], [0, 1, 1], [1, 0, 0]]


def test_cohen_kappa_two_by_two_by_hand():
    # 50 items: both yes 20, person yes / dreval no 5, person no / dreval yes 10, both no 15
    human = ["yes"] * 25 + ["no"] * 25
    machine = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    # p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    assert A.cohen_kappa(human, machine) == pytest.approx(0.4)


def test_cohen_kappa_three_labels_by_hand():
    human = ["right"] * 6 + ["wrong"] * 3 + ["unknown"]
    machine = ["right"] * 5 + ["unknown"] + ["wrong"] * 2 + ["right"] + ["unknown"]
    # p_o = (5 + 2 + 1) / 10 = 0.8; people (0.6, 0.3, 0.1), dreval (0.6, 0.2, 0.2):
    # p_e = 0.36 + 0.06 + 0.02 = 0.44; kappa = 0.36 / 0.56
    assert A.cohen_kappa(human, machine, A.VERDICT_LABELS) == pytest.approx(0.36 / 0.56)


def test_cohen_kappa_edge_cases():
    assert A.cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    # agreement exactly at chance: people half a, dreval always half a, independently
    assert A.cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == pytest.approx(0.0)
    assert A.cohen_kappa(["a", "a"], ["a", "a"]) is None  # no variation: undefined
    assert A.cohen_kappa([], []) is None


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert A.fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_kappa_of_labels_by_hand():
    # 4 claims, 3 judges: two unanimous (right, wrong), two split 2-1
    ratings = [["right"] * 3, ["wrong"] * 3, ["right", "right", "wrong"], ["wrong", "unknown", "wrong"]]
    # P_i = 1, 1, 1/3, 1/3 -> P = 2/3; shares right 5/12, wrong 6/12, unknown 1/12
    expected_chance = (5 / 12) ** 2 + (6 / 12) ** 2 + (1 / 12) ** 2
    value = (2 / 3 - expected_chance) / (1 - expected_chance)
    assert A.fleiss_kappa_labels(ratings) == pytest.approx(value)
    assert A.fleiss_kappa_labels([["right", "right"], ["wrong", "wrong"]]) == pytest.approx(1.0)
    assert A.fleiss_kappa_labels([["right", "right"], ["right", "right"]]) is None
    assert A.fleiss_kappa_labels([]) is None
    with pytest.raises(ValueError):
        A.fleiss_kappa([[2, 0], [1, 0]])


def test_krippendorff_alpha_interval_by_hand():
    # units (1, 2) and (3, 3): n = 4; D_o = (2 + 0) / 4 = 0.5;
    # D_e = 2 * (1 + 4 + 4 + 1 + 1 + 0) / (4 * 3) = 22 / 12; alpha = 1 - 0.5 / (22 / 12)
    assert A.krippendorff_alpha([[1, 2], [3, 3]]) == pytest.approx(1 - 0.5 / (22 / 12))
    assert A.krippendorff_alpha([[1, 1], [4, 4], [7, 7]]) == pytest.approx(1.0)
    assert A.krippendorff_alpha([[5, 5], [5, 5]]) is None  # no variation
    assert A.krippendorff_alpha([[3, None], [None, 4]]) is None  # nothing pairable


def test_krippendorff_alpha_matches_krippendorffs_own_example():
    # Krippendorff, "Computing Krippendorff's alpha-reliability" (2011): 4 observers, 12 units, missing
    # values; interval alpha = 0.849
    n = None
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = [list(column) for column in zip(*observers)]
    assert A.krippendorff_alpha(units) == pytest.approx(0.849, abs=5e-4)


def test_machine_preference_with_a_tie_margin():
    assert [A.machine_preference(a, b) for a, b in [(7.0, 5.0), (6.0, 6.0), (4.0, 5.0)]] == ["a", "tie", "b"]
    assert A.machine_preference(4.0, 5.0, tie_margin=1.5) == "tie"
    assert A.machine_preference(4.0, 5.6, tie_margin=1.5) == "b"
