"""One validation path: the same bad cell gives the same error at every door.

A value that is not a number where a rating is needed (``"4,5"`` in a
comma-separated file, ``"abc"``, ``"inf"``, a boolean) is put into one cell of
the shipped data, which is then given to every public entry point both as a
file and as a DataFrame. Each must raise one :class:`alliance.DataError` whose
message names the source, the row, the column and the rule -- never drop the
cell as missing or coerce it. The file-level rules (delimiter, decimal mark,
header names, row width) are tested below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import DataError, registry
from alliance.cli import fit_commands, main
from alliance.findings import evaluate
from alliance.growth import fit_growth
from alliance.lagged import fit_lagged
from alliance.randomise import balance, icc
from alliance.report import run_report
from alliance.rsa import fit_rsa
from alliance.studies.multiverse import multiverse
from alliance.studies.specifications import fit_specification
from alliance.truth_bias import fit_truth_bias

ROW = 4  # 0-based position of the bad cell: data row 5, file line 6
COLUMN = "alliance_therapist"

#: (label, cell as written in a DataFrame, cell as written in a file, rule named)
BAD_CELLS = [
    ("decimal comma", "4,5", "4,5", "numeric column"),
    ("text", "abc", "abc", "numeric column"),
    ("infinity", "inf", "inf", "finite values"),
    ("boolean", True, "True", "numeric column"),
]


def _run_report(data):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return run_report(data, Path(tmp) / "out")


#: Every public entry point that takes session data, called on ``data``: every registered
#: analysis's example call (its descriptor's), and the composites.
ENTRY_POINTS = {
    "read_sessions": lambda d: alliance.read_sessions(d),
    **{f"analysis:{name}": registry.descriptor(name).example for name in sorted(registry.analyses())},
    "fit_growth": lambda d: fit_growth(d, "therapist"),
    "fit_truth_bias": lambda d: fit_truth_bias(d),
    "fit_lagged": lambda d: fit_lagged(d),
    "fit_rsa": lambda d: fit_rsa(d, "wellbeing", "alliance_therapist", "alliance_patient",
                                 group="patient", time="session", lag=1),
    "fit_specification": lambda d: fit_specification(d, "within"),
    "icc": lambda d: icc(d, "alliance_therapist"),
    "balance": lambda d: balance(d),
    "evaluate_findings": lambda d: evaluate(d),
    "report": _run_report,
    "multiverse": lambda d: multiverse(d, grid="small"),
}


def _fit_command(name: str) -> list[str]:
    """``fit NAME`` with a value for each option its command requires (the descriptor's example)."""
    analysis = registry.descriptor(name)
    return ["fit", name] + [x for o in analysis.options if o.required or o.example is not None
                            for x in (o.option, str(o.example))]


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return alliance.load_example()


def _bad_frame(example, cell) -> pd.DataFrame:
    bad = example.copy()
    bad[COLUMN] = bad[COLUMN].astype(object)
    bad.loc[bad.index[ROW], COLUMN] = cell
    return bad


def _bad_file(example, text, tmp_path) -> Path:
    frame = example.copy()
    frame[COLUMN] = frame[COLUMN].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    frame.loc[frame.index[ROW], COLUMN] = text
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)  # "4,5" is quoted by the writer
    return path


def _check(message: str, source: str, rule: str, file: bool) -> None:
    assert message.startswith(source), message
    assert f"column '{COLUMN}'" in message, message
    assert f"data row {ROW + 1}" in message, message
    if file:
        assert f"file line {ROW + 2}" in message, message
    assert f"[rule: {rule}]" in message, message


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize(("label", "cell", "text", "rule"), BAD_CELLS, ids=[c[0] for c in BAD_CELLS])
def test_bad_cell_in_a_dataframe(example, entry, label, cell, text, rule):
    with pytest.raises(DataError) as err:
        ENTRY_POINTS[entry](_bad_frame(example, cell))
    _check(str(err.value), example.attrs["source"], rule, file=False)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize(("label", "cell", "text", "rule"), BAD_CELLS, ids=[c[0] for c in BAD_CELLS])
def test_bad_cell_in_a_file(example, tmp_path, entry, label, cell, text, rule):
    path = _bad_file(example, text, tmp_path)
    with pytest.raises(DataError) as err:
        ENTRY_POINTS[entry](str(path))
    _check(str(err.value), str(path), rule, file=True)


@pytest.mark.parametrize("command", [["validate"]] + [_fit_command(n) for n in sorted(fit_commands())],
                         ids=lambda c: " ".join(c[:2]))
def test_bad_cell_on_the_command_line(example, tmp_path, capsys, command):
    path = _bad_file(example, "4,5", tmp_path)
    argv = command[:1] + command[1:2] + [str(path)] + command[2:] if command[0] == "fit" else \
        command + [str(path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("alliance: invalid data: ")
    _check(err.removeprefix("alliance: invalid data: "), str(path), "numeric column", file=True)


def test_a_dataframe_row_is_named_by_its_index_label(example):
    bad = _bad_frame(example, "abc").sort_values(["therapist", "session"])
    with pytest.raises(DataError, match=r"column 'alliance_therapist'.*data row \d+ \(index 4\)"):
        fit_growth(bad, "therapist")


def test_the_hint_names_the_decimal_option(example):
    with pytest.raises(DataError, match="decimal=','"):
        alliance.read_sessions(_bad_frame(example, "4,5"))


# --------------------------------------------------------------------------- file-level rules


def _write(tmp_path, text, name="x.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


SMALL = [
    ("T1", "P1", "control", "1", "4.5", "3.25", "20.5"),
    ("T1", "P1", "control", "2", "4.75", "", "22"),
    ("T2", "P2", "training", "1", "3.5", "4", "18.25"),
]
HEADER = ["therapist", "patient", "condition", "session", "alliance_patient",
          "alliance_therapist", "wellbeing"]


def _table(sep: str, decimal: str = ".") -> str:
    rows = [[c.replace(".", decimal) for c in r] for r in SMALL]
    return "\n".join(sep.join(r) for r in [HEADER, *rows]) + "\n"


@pytest.mark.parametrize(("sep", "decimal"), [(",", "."), (";", ","), (";", "."), ("\t", ","),
                                              ("\t", ".")])
def test_delimiters_and_decimal_marks_are_detected(tmp_path, sep, decimal):
    df = alliance.read_sessions(_write(tmp_path, _table(sep, decimal)))
    assert df["alliance_patient"].tolist() == [4.5, 4.75, 3.5]
    assert df["wellbeing"].tolist() == [20.5, 22.0, 18.25]
    assert np.isnan(df["alliance_therapist"].iloc[1])


def test_delimiter_and_decimal_can_be_given(tmp_path):
    path = _write(tmp_path, _table(";", ","))
    df = alliance.read_sessions(path, sep=";", decimal=",")
    assert df["alliance_therapist"].iloc[0] == 3.25
    with pytest.raises(DataError, match=r"column 'alliance_patient' must be numeric.*decimal=','"):
        alliance.read_sessions(path, sep=";", decimal=".")
    assert main(["validate", str(path), "--sep", ";", "--decimal", ","]) == 0


def test_a_file_mixing_decimal_marks_is_refused(tmp_path):
    text = _table(";", ",").replace("18,25", "18.25")
    with pytest.raises(DataError, match=r"both decimal points.*decimal commas.*one decimal mark"):
        alliance.read_sessions(_write(tmp_path, text))


def test_duplicate_names_are_read_from_the_header(tmp_path):
    text = _table(",").replace("wellbeing\n", "wellbeing,score,score.1\n", 1)
    text = "\n".join(line + (",1,2" if i else "") for i, line in
                     enumerate(text.strip().split("\n"))) + "\n"
    df = alliance.read_sessions(_write(tmp_path, text))
    assert {"score", "score.1"} <= set(df.columns)  # two legitimate names
    twice = text.replace("score,score.1", "score,score", 1)
    with pytest.raises(DataError, match=r"repeated in the header: \['score'\].*unique column names"):
        alliance.read_sessions(_write(tmp_path, twice, "twice.csv"))


@pytest.mark.parametrize("cut", ["short", "long"])
def test_a_row_with_the_wrong_number_of_fields_is_refused(tmp_path, cut):
    lines = _table(",").strip().split("\n")
    lines[2] = lines[2].rsplit(",", 1)[0] if cut == "short" else lines[2] + ",9"
    with pytest.raises(DataError, match=r"file line 3 has \d+ fields.*as many fields as the header"):
        alliance.read_sessions(_write(tmp_path, "\n".join(lines) + "\n"))


def test_file_lines_count_quoted_newlines(tmp_path):
    text = _table(",").replace("T2,P2", '"T2\nsecond line",P2').replace("3.5,4,", "3.5,abc,")
    with pytest.raises(DataError, match=r"data row 3 \(file line 4\)"):
        alliance.read_sessions(_write(tmp_path, text))


def test_numeric_values_in_a_dataframe_are_not_coerced():
    d = alliance.load_example()
    ok = d.assign(alliance_patient=d["alliance_patient"].astype("Float64"))  # nullable dtype
    assert alliance.read_sessions(ok)["alliance_patient"].isna().sum() == d["alliance_patient"].isna().sum()
    for bad in (d["alliance_patient"] + 0j, pd.to_datetime("2024-01-01") + pd.to_timedelta(d["session"], "D")):
        with pytest.raises(DataError, match="column 'alliance_patient'"):
            alliance.read_sessions(d.assign(alliance_patient=bad))


# --------------------------------------------------------------------------- fast paths

#: Id columns for the fast path of ``parse_identifier`` (plain text ids) and every column it
#: hands to the general path: each must give the same ids, or the same error, either way.
ID_COLUMNS = {
    "text": pd.Series(["T1", "T2", "T1", "x-y.z"], dtype="str"),
    "object text": pd.Series(["T1", "T2", "T1", "x y"], dtype=object),
    "missing": pd.Series(["T1", None, "T2", np.nan], dtype=object),
    "integers": pd.Series([3, 1, 3, 2]),
    "mixed": pd.Series(["1", 2, "3", 2], dtype=object),
    "padded": pd.Series([" T1", "T1", "T2 ", "T2"], dtype="str"),
    "pipes": pd.Series(["a|b", "c", "a|b", "d"], dtype="str"),
    "pipes padded": pd.Series(["a |b", "c", "a| b", "d"], dtype="str"),
    "numbers": pd.Series(["1", "2", "10", "-3"], dtype="str"),
    "non-ascii": pd.Series(["Zoë", "Zoë", "Åsa", "Åsa"], dtype="str"),
    "one number two ways": pd.Series(["1", "1.0", "2", "2"], dtype="str"),
    "control": pd.Series(["T1", "T\x002", "T1", "T1"], dtype="str"),
    "blank": pd.Series(["T1", "  ", "T1", "T1"], dtype=object),
    "long": pd.Series(["T" * 300, "T1", "T1", "T1"], dtype="str"),
    "floats": pd.Series([1.0, 2.0, 1.0, 2.0]),
    "categorical": pd.Series(["a", "b", "a", "b"], dtype="category"),
}


@pytest.mark.parametrize("name", list(ID_COLUMNS))
@pytest.mark.parametrize("allow_missing", [False, True])
@pytest.mark.parametrize("ids", ["text", "numeric"])
def test_identifier_fast_path_is_the_general_path(monkeypatch, name, allow_missing, ids):
    """``parse_identifier``'s shortcut for plain text ids gives what the general path gives."""
    from alliance.data import cells

    col = ID_COLUMNS[name]

    def parse():
        try:
            return cells.parse_identifier(col, "id", cells.Source("<t>"), ids=ids,
                                          allow_missing=allow_missing)
        except DataError as exc:
            return str(exc)

    fast = parse()
    # the shortcut is taken where it should be (else this test compares the general path twice)
    taken = cells._plain_ids(col, ids) is not None
    assert taken == (ids == "text" and name in ("text", "object text", "missing", "pipes",
                                                 "numbers"))
    if not isinstance(fast, str):  # the ids as their array (read_sessions'): the same ids
        ids_array = cells._parse_identifier(col, "id", cells.Source("<t>"), ids=ids,
                                            allow_missing=allow_missing, as_array=True)[0]
        pd.testing.assert_extension_array_equal(pd.Series(ids_array).array, fast.array)
    monkeypatch.setattr(cells, "_plain_ids", lambda s, ids, **options: None)
    general = parse()
    if isinstance(general, str):
        assert fast == general
    else:
        pd.testing.assert_series_equal(fast, general)
        assert fast.dtype == general.dtype


@pytest.mark.parametrize("change", ["none", "duplicate", "two therapists", "both arms"])
def test_structure_check_in_numpy_agrees(change):
    """The NumPy check of one row per patient x session, one therapist per patient and one arm
    per therapist accepts the shipped data and refuses each broken rule with its message."""
    from alliance.data.cells import Source
    from alliance.data.validate import _refuse_structure, _structure_holds

    d = alliance.read_sessions(alliance.load_example()).copy()
    if change == "duplicate":
        d.loc[5, "session"] = d.loc[4, "session"]
        d.loc[5, "patient"] = d.loc[4, "patient"]
        d.loc[5, "therapist"] = d.loc[4, "therapist"]
        d.loc[5, "condition"] = d.loc[4, "condition"]
    elif change == "two therapists":
        other = d.loc[d["therapist"] != d.loc[0, "therapist"]].iloc[0]
        last = d.index[d["patient"] == d.loc[0, "patient"]][-1]
        d.loc[last, "therapist"] = other["therapist"]
        d.loc[last, "condition"] = other["condition"]
    elif change == "both arms":
        rows = d.index[d["therapist"] == d.loc[0, "therapist"]]
        d.loc[rows[-1], "condition"] = ("control" if d.loc[0, "condition"] == "training"
                                        else "training")
    assert _structure_holds(d) == (change == "none")
    if change != "none":
        rule = {"duplicate": "one row per patient x session",
                "two therapists": "each patient has one therapist",
                "both arms": "each therapist is in one arm"}[change]
        with pytest.raises(DataError, match=rule):
            _refuse_structure(d, Source("<t>"))


def test_distinct_pairs_by_table_and_by_sort_equal_numpys_unique():
    """The distinct (owner, member) pairs that the structure checks count: marked in a table
    when the possible pairs are few, sorted when they are many; either way np.unique's."""
    from alliance.data.cells import distinct_pairs

    rng = np.random.default_rng(11)
    for n_owner, n_member, n in ((30, 6, 500), (5000, 900, 400)):  # a table, then a sort
        owner, member = rng.integers(0, n_owner, n), rng.integers(0, n_member, n)
        pairs, width = distinct_pairs(owner, member)
        assert width == member.max() + 1
        assert np.array_equal(pairs, np.unique(owner.astype(np.int64) * width + member))
    pairs, width = distinct_pairs(np.array([2, 0, 2]), np.array([1, 1, 1]), 4)
    assert width == 4 and pairs.tolist() == [1, 9]
