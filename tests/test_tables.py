"""The book's one table function (great_tables) and its plain-language labels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from alliance.plots.labels import column_label, term_label
from alliance.plots.tables import format_value, table
from alliance.results import format_p, format_table


def test_numbers_have_sensible_digits_and_p_is_apa():
    frame = pd.DataFrame({"term": ["time:training", "g_ther"], "estimate": [0.04123, -1.5],
                          "p": [0.0004, 0.0312], "p_holm": [1.0, np.nan], "df": [np.inf, 35.51],
                          "n": [40.0, 117.0], "statistic": [3.456, -0.2]})
    shown = table(frame, caption="Growth").frame
    assert shown.columns.tolist() == ["Term", "Estimate", "p", "p (Holm)", "df", "n",
                                      "Test statistic"]
    assert shown["p"].tolist() == ["< .001", ".031"]
    assert shown["p (Holm)"].tolist() == ["1.000", ""], "a missing value is a blank cell"
    assert shown["n"].tolist() == ["40", "117"], "whole numbers as whole numbers"
    assert shown["df"].tolist() == ["∞", "35.5"]
    assert shown["Estimate"].tolist() == ["0.041", "-1.500"]
    assert shown["Test statistic"].tolist() == ["3.46", "-0.20"]
    assert shown["Term"].tolist() == [term_label("time:training"), term_label("g_ther")]
    assert "g_ther" not in shown.to_string() and "time:training" not in shown.to_string()


def test_confidence_limits_are_one_column_and_a_mixed_column_keeps_integers():
    frame = pd.DataFrame({"parameter": ["n_therapists", "sd"], "value": [40, 0.25],
                          "ci_low": [1.0, 2.0], "ci_high": [3.0, 4.5]}, dtype=object)
    frame["ci_low"] = frame["ci_low"].astype(float)
    frame["ci_high"] = frame["ci_high"].astype(float)
    shown = table(frame, caption="Parameters").frame
    assert shown["Value"].tolist() == ["40", "0.25"]
    assert shown["CI"].tolist() == ["[1.000, 3.000]", "[2.000, 4.500]"], "one style per column"


def test_html_is_great_tables_with_an_accessible_scroll_box_and_no_index():
    frame = pd.DataFrame({"claim": [1, 2], "verdict": ["replicated", "inconclusive"],
                          "reason": ["a long reason " * 10, "another"]},
                         index=pd.Index([7, 9]))
    page = table(frame, caption="The four findings: verdict and reason")._repr_html_()
    assert 'class="gt_table"' in page  # rendered by great_tables
    box = re.match(r'<div id="(tbl-[0-9a-f-]+)" ([^>]*)>', page)
    assert box and 'role="region"' in box.group(2) and 'tabindex="0"' in box.group(2)
    assert 'aria-label="The four findings: verdict and reason"' in box.group(2)
    assert "overflow-x:auto" in box.group(2)
    assert ">7<" not in page and ">9<" not in page, "no row index"
    # numbers right-aligned, text left-aligned and wrapping
    assert re.search(r'class="gt_row gt_right">1<', page)
    assert re.search(r'class="gt_row gt_left">replicated<', page)
    tid = box.group(1)
    assert f"#{tid} td.gt_left {{ white-space: normal;" in page
    # great_tables' stylesheet is scoped to the table (nothing leaks into the page) and pruned
    style = re.search(r"<style>(.*)</style>", page, re.DOTALL).group(1)
    for rule in style.split("}"):
        selector = rule.split("{")[0].strip()
        if selector:
            assert all(part.strip().startswith(f"#{tid}") for part in selector.split(",")), rule
    assert "gt_footnote" not in style and len(page) < 8_000


def test_the_same_table_twice_gets_two_ids():
    frame = pd.DataFrame({"a": [1]})
    first, second = table(frame, caption="x")._repr_html_(), table(frame, caption="x")._repr_html_()
    ids = [re.match(r'<div id="([^"]+)"', h).group(1) for h in (first, second)]
    assert ids[0] != ids[1]


@pytest.mark.parametrize("code", ["ci_low", "p_holm", "std_estimate", "patients_per_therapist_mean"])
def test_column_labels_are_plain_language(code):
    assert "_" not in column_label(code)


def test_term_labels_replace_codes():
    assert term_label("alliance_patient (s-1) within") == \
        "Patient-rated alliance at s−1, within patient"
    assert term_label("patient_age") == "Patient age"
    assert term_label("a1").startswith("a1: slope along the line of congruence")
    assert term_label("something new") == "something new"  # unknown: unchanged
    assert format_value(True) == "yes" and format_value(12345) == "12,345"


@pytest.mark.parametrize("p, shown", [(2.31e-05, "< .001"), (0.000999, "< .001"), (0.001, ".001"),
                                      (0.0131, ".013"), (0.05, ".050"), (0.99951, "1.000"),
                                      (1.0, "1.000")])
def test_one_p_formatter_for_tables_terminal_and_reasons(p, shown):
    assert format_p(p) == shown
    assert format_value(p, "p") == shown
    assert format_table(pd.DataFrame({"term": ["x"], "p": [p]})).splitlines()[1].endswith(shown)
    assert format_p(p, equals=True) == ("p " if shown.startswith("<") else "p = ") + shown
