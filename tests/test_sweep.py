import json
import os

import matplotlib.pyplot as plt
import nbformat
import pytest

from xmlab import sweep
from xmlab.cli import main, sweep_grid

RUN_CODE = """import time, torch
import xmlab as xm
start = time.time()
if a == 3:
    raise ValueError("a=3 is not allowed")
time.sleep(3)
xm.record("score", a * 10 + len(b))
xm.record("threads", torch.get_num_threads())
xm.record("start", start)
xm.record("end", time.time())
xm.record("device", "cpu")"""


def _notebook(path, code=RUN_CODE, parameters="a = 1\nb = 'x'"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_grid_is_every_combination_first_parameter_slowest():
    points = sweep.grid({"t": [0.1, 1.0], "bs": [8, 16, 32]})
    assert (
        len(points) == 6 and points[0] == {"t": 0.1, "bs": 8} and points[3] == {"t": 1.0, "bs": 8}
    )
    assert len({json.dumps(p, sort_keys=True) for p in points}) == 6
    with pytest.raises(ValueError, match="at least one parameter"):
        sweep.grid({})
    with pytest.raises(ValueError, match="non-empty list"):
        sweep.grid({"t": []})
    with pytest.raises(ValueError, match="non-empty list"):
        sweep.grid({"t": "0.1"})


def test_command_line_grid_parses_values_and_rejects_mistakes():
    assert sweep_grid(
        [["lr", "1e-3", "0.01"], ["bs", "32"], ["amp", "true"], ["loss", "clip"]]
    ) == {
        "lr": [0.001, 0.01],
        "bs": [32],
        "amp": [True],
        "loss": ["clip"],
    }
    with pytest.raises(ValueError, match="has no values"):
        sweep_grid([["lr"]])
    with pytest.raises(ValueError, match="given twice"):
        sweep_grid([["lr", "1"], ["lr", "2"]])
    assert main(["sweep", "nb.ipynb", "-p", "lr"]) == 2


def test_sweep_runs_in_parallel_with_one_thread_and_survives_a_failure(tmp_path, capsys):
    nb = _notebook(tmp_path / "exp.ipynb")
    out = tmp_path / "sweeps"
    code = main(
        ["sweep", str(nb), "-p", "a", "1", "2", "3", "-p", "b", "xy", "--out", str(out)]
        + ["--workers", "2", "--metric", "score"]
    )
    assert code == 1  # one run failed
    printed = capsys.readouterr().out
    assert "run 3 failed at cell" in printed and "ValueError: a=3 is not allowed" in printed
    rows = sweep.read_csv(out / "latest" / "results.csv")
    assert [(r["run"], r["a"], r["b"], r["status"]) for r in rows] == [
        (1, 1, "xy", "ok"),
        (2, 2, "xy", "ok"),
        (3, 3, "xy", "failed"),
    ]
    assert [r["score"] for r in rows[:2]] == [12, 22] and rows[2]["score"] == ""
    assert all(r["threads"] == 1 and r["device_used"] == "cpu" for r in rows[:2])
    first, second = rows[:2]
    assert first["start"] < second["end"] and second["start"] < first["end"]  # ran at once
    assert (out / "latest" / "sweep.png").stat().st_size > 0
    assert (out / "latest" / "run-002" / "exp.ipynb").is_file()


def test_missing_notebook_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebook at"):
        sweep.run_sweep(tmp_path / "nope.ipynb", {"a": [1]})


ROWS = [
    {"run": 1, "status": "ok", "seconds": 1.0, "device_used": "cpu", "t": 0.01, "bs": 8, "r1": 0.2},
    {"run": 2, "status": "ok", "seconds": 1.0, "device_used": "cpu", "t": 0.1, "bs": 8, "r1": 0.5},
    {
        "run": 3,
        "status": "ok",
        "seconds": 1.0,
        "device_used": "cpu",
        "t": 0.01,
        "bs": 64,
        "r1": 0.3,
    },
    {
        "run": 4,
        "status": "failed",
        "seconds": 0.5,
        "device_used": "?",
        "t": 0.1,
        "bs": 64,
        "r1": "",
    },
]


def test_csv_round_trip_table_and_metric_columns(tmp_path):
    rows = [{**r, "error": "" if r["status"] == "ok" else "cell 2: boom"} for r in ROWS]
    back = sweep.read_csv(sweep.write_csv(tmp_path / "r.csv", rows))
    assert back == rows
    assert sweep.numeric_metrics(back, ["t", "bs"]) == ["r1"]
    table = sweep.markdown_table(back, ["t", "bs", "r1"]).splitlines()
    assert table[0] == "| t | bs | r1 |" and table[2] == "| 0.010 | 8 | 0.200 |"
    with pytest.raises(FileNotFoundError, match="run a sweep first"):
        sweep.read_csv(tmp_path / "none.csv")


def test_plot_draws_one_line_per_hue_value_without_failed_runs():
    ax = sweep.plot_sweep(ROWS, metric="r1", x="t", hue="bs")
    lines = {line.get_label(): line.get_xydata().tolist() for line in ax.get_lines()}
    assert lines == {"bs=8": [[0.01, 0.2], [0.1, 0.5]], "bs=64": [[0.01, 0.3]]}
    assert ax.get_xscale() == "log"
    plt.close(ax.figure)


def test_available_cpus_is_within_the_machine():
    assert 1 <= sweep.available_cpus() <= os.cpu_count()


def test_experiment_notebook_is_used_in_place_or_fetched_once(tmp_path, monkeypatch):
    here = _notebook(tmp_path / "there.ipynb")
    calls = []

    def fetch(url):
        calls.append(url)
        return here.read_bytes()

    assert sweep.experiment_notebook(here, fetch=fetch) == here and calls == []
    target = tmp_path / "experiments" / "run.ipynb"
    monkeypatch.chdir(tmp_path)
    got = sweep.experiment_notebook("experiments/run.ipynb", fetch=fetch)
    assert got.resolve() == target and target.read_bytes() == here.read_bytes()
    assert calls == [sweep.REPOSITORY_RAW + "notebooks/experiments/run.ipynb"]
    with pytest.raises(ValueError, match="did not return a notebook"):
        sweep.experiment_notebook("experiments/bad.ipynb", fetch=lambda url: b"<html>404</html>")
    assert not (tmp_path / "experiments" / "bad.ipynb").exists()


def test_a_run_in_its_own_process_keeps_parameter_types_and_names_the_failing_cell(tmp_path):
    from xmlab.course import execute_in_subprocess

    code = """import xmlab as xm
xm.record("kinds", "/".join(type(v).__name__ for v in (lr, sizes, flag, name)))
xm.record("lr_times_1e5", lr * 1e5)
assert flag, "flag must be set"
"""
    defaults = "lr = 0.1\nsizes = [1]\nflag = True\nname = 'a'"
    nb = _notebook(tmp_path / "types.ipynb", code, defaults)
    params = {"lr": 1e-05, "sizes": [32, 64], "flag": True, "name": "1e-05"}
    ok = execute_in_subprocess(nb, tmp_path / "ok", params, threads=1)
    assert ok.status == "ok", ok.error
    assert ok.metrics["kinds"] == "float/list/bool/str"
    assert ok.metrics["lr_times_1e5"] == pytest.approx(1.0)
    bad = execute_in_subprocess(nb, tmp_path / "bad", {**params, "flag": False})
    # cell 3 in execution order: papermill runs its injected parameters cell second
    assert bad.status == "failed" and bad.error == "cell 3: AssertionError: flag must be set"
