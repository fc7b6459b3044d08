"""Ctrl-C (``KeyboardInterrupt``) at every phase of ``fit``, ``xmlab run`` and ``xmlab sweep``:
nothing already finished is lost, and what is on disk is whole and agrees with itself."""

import json
import threading
import time

import pytest
import torch

import xmlab as xm
from xmlab import cli
from xmlab.course import runner, sweep
from xmlab.train import checkpoint as ckpt

DATA = xm.data.make_shapes(16, seed=0, image_size=16)
TOK = xm.preprocess.WordTokenizer.build(DATA.captions)


def model():
    torch.manual_seed(0)
    return xm.encoders.shapes_dual_encoder(len(TOK), image_size=16, embed_dim=8, width=16)


def fit(path, *, epochs=3, **hooks):
    """``epochs`` epochs of 2 steps, a checkpoint after each, interrupted where ``hooks`` say."""
    loader = xm.data.pair_loader(DATA, TOK, batch_size=8)
    config = xm.train.TrainConfig(epochs=epochs, checkpoint=str(path), progress=False)
    return xm.train.fit(model(), loader, config=config, **hooks)


def on_disk(path) -> dict:
    """The checkpoint at ``path``, read back (checksums verified), with no temporary file
    left beside it."""
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    return ckpt.read_checkpoint(path)


class StopAt(xm.train.Callback):
    def __init__(self, step=None, epoch=None):
        self.step, self.epoch = step, epoch

    def on_step(self, row, model):
        if row["step"] == self.step:
            raise KeyboardInterrupt

    def on_epoch_end(self, row, model):
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_interrupt_at_a_step_keeps_the_last_whole_epoch_on_disk(tmp_path, capsys):
    path = tmp_path / "model.pt"
    history = fit(path, callbacks=[StopAt(step=3)])  # epoch 2, first step
    saved = on_disk(path)
    assert history.stopped == "interrupted after step 3" and len(history.epochs) == 1
    assert saved["epoch"] == 1 and saved["history"]["epochs"] == history.epochs
    assert f"the checkpoint {path} holds epoch 1" in capsys.readouterr().out


def test_interrupt_while_evaluating_the_epoch_keeps_the_epoch_before(tmp_path):
    path = tmp_path / "model.pt"
    calls = {"n": 0}

    def eval_fn(m):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # end of epoch 2, before its row is recorded
        return {"val": 1.0}

    history = fit(path, eval_fn=eval_fn)
    saved = on_disk(path)
    assert len(history) == 4 and [r["epoch"] for r in history.epochs] == [1]
    assert saved["epoch"] == 1 and saved["history"]["epochs"] == history.epochs


def test_interrupt_in_an_epoch_callback_comes_after_the_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    history = fit(path, callbacks=[StopAt(epoch=2)])
    saved = on_disk(path)
    assert [r["epoch"] for r in history.epochs] == [1, 2]
    assert saved["epoch"] == 2 and saved["history"]["epochs"] == history.epochs  # they agree
    resumed = xm.train.fit(
        model(),
        xm.data.pair_loader(DATA, TOK, batch_size=8),
        config=xm.train.TrainConfig(epochs=3, resume=str(path), progress=False),
    )
    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3]


def test_interrupt_while_saving_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    real_save, calls = torch.save, {"n": 0}

    def save_then_interrupt(payload, f, *args, **kwargs):
        calls["n"] += 1
        real_save(payload, f, *args, **kwargs)
        if calls["n"] == 2:  # the second epoch's file is half way to disk
            raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_interrupt)
    history = fit(path)
    saved = on_disk(path)  # no temporary file left, checksums match
    assert saved["epoch"] == 1 and [r["epoch"] for r in saved["history"]["epochs"]] == [1]
    assert history.stopped and len(history.epochs) == 2


# --- xmlab run ---------------------------------------------------------------------------------


def fake_notebooks(tmp_path, n=3):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for i in range(n):
        (folder / f"0{i}_nb.ipynb").write_text("{}")
    return sorted(folder.glob("*.ipynb"))


def fake_execute(interrupt_in=None, bad_line_in=None, seen=None):
    """An ``execute`` that records a metric (plus a half-written line if asked) or is
    interrupted, without starting a kernel."""

    def execute(notebook, run, parameters=None):
        if seen is not None:  # what the summary on disk says when this notebook starts
            summary = run / "summary.json"
            seen.append(json.loads(summary.read_text()) if summary.exists() else [])
        records = run / f"{notebook.stem}.metrics.jsonl"
        records.write_text(json.dumps({"name": "score", "value": 0.5}) + "\n")
        if notebook.name == bad_line_in:
            with records.open("a") as f:
                f.write('{"name": "loss", "val')  # killed half way through a line
        if notebook.name == interrupt_in:
            raise KeyboardInterrupt
        return runner._result(notebook, records, parameters, 0.0, "ok", "")

    return execute


def test_run_writes_the_summary_after_every_notebook(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(runner, "execute", fake_execute(seen=seen))
    run, results = runner.run_course(fake_notebooks(tmp_path), out=tmp_path / "runs")
    assert [len(s) for s in seen] == [0, 1, 2]  # each notebook found the ones before on disk
    assert [r["status"] for r in json.loads((run / "summary.json").read_text())] == ["ok"] * 3


def test_ctrl_c_in_a_notebook_leaves_a_summary_that_marks_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "execute", fake_execute(interrupt_in="01_nb.ipynb"))
    books = fake_notebooks(tmp_path)
    code = cli.main(["run", "--notebooks", str(books[0].parent), "--out", str(tmp_path / "r")])
    summary = json.loads((tmp_path / "r" / "latest" / "summary.json").read_text())
    assert code == 130 and [r["status"] for r in summary] == ["ok", "interrupted"]
    assert summary[1]["metrics"] == {"score": 0.5}  # what it recorded before Ctrl-C is kept
    markdown = (tmp_path / "r" / "latest" / "summary.md").read_text()
    assert "**01_nb.ipynb interrupted**: stopped by the user" in markdown
    assert not list((tmp_path / "r" / "latest").glob(".*"))  # no temporary files


def test_a_half_written_record_line_is_reported_and_the_course_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "execute", fake_execute(bad_line_in="00_nb.ipynb"))
    run, results = runner.run_course(fake_notebooks(tmp_path), out=tmp_path / "runs")
    assert [r.status for r in results] == ["ok"] * 3 and results[0].metrics == {"score": 0.5}
    assert "00_nb.metrics.jsonl line 2 is not a record" in results[0].warnings[0]
    assert "line 2 is not a record" in (run / "summary.md").read_text()


# --- xmlab sweep -------------------------------------------------------------------------------


def test_ctrl_c_during_a_sweep_keeps_the_finished_rows(tmp_path, monkeypatch):
    notebook = tmp_path / "exp.ipynb"
    cell = {"cell_type": "code", "source": "a = 1", "metadata": {"tags": ["parameters"]}}
    notebook.write_text(json.dumps({"cells": [cell]}))
    release, csv_seen = threading.Event(), []

    def run_point(nb, folder, parameters):
        if parameters["a"] == 2:  # written as rows arrive: row 1 reaches the disk
            csv = folder.parent / "results.csv"  # (the main thread writes it as run 2 starts)
            for _ in range(1000):
                if csv.exists():
                    break
                time.sleep(0.01)
            csv_seen.append(sweep.read_csv(csv))
        if parameters["a"] == 3:
            release.wait(10)  # still running when Ctrl-C comes
        return runner.NotebookResult(nb.name, "ok", 0.1, "cpu", {"score": parameters["a"]})

    def report(done, points, i, results):
        if done == 2:
            raise KeyboardInterrupt  # pressed while waiting for run 3

    monkeypatch.setattr(sweep, "_run_point", run_point)
    monkeypatch.setattr(sweep, "_report", report)
    try:
        result = sweep.run_sweep(notebook, {"a": [1, 2, 3, 4]}, out=tmp_path / "s", workers=1)
    finally:
        release.set()
    rows = sweep.read_csv(result.csv)
    assert result.stopped == "interrupted by the user after 2 runs"
    assert [(r["a"], r["status"], r["score"]) for r in rows] == [
        (1, "ok", 1), (2, "ok", 2), (3, "interrupted", ""), (4, "interrupted", "")]  # fmt: skip
    assert [r["a"] for r in csv_seen[0]] == [1]
    assert not list(result.folder.glob(".*"))  # no temporary files


@pytest.mark.parametrize("fail_at", ["csv", "plot"])
def test_a_sweep_file_is_whole_or_absent(tmp_path, monkeypatch, fail_at):
    """Atomic writes: a crash while writing leaves the previous file (or none), never half."""
    path = tmp_path / ("results.csv" if fail_at == "csv" else "sweep.png")
    path.write_text("before")

    def crash(handle, data):
        raise OSError("disk full")

    monkeypatch.setattr("os.fdopen", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    rows = [{"run": 1, "status": "ok", "seconds": 1.0, "device_used": "cpu", "a": 1, "m": 0.5}]
    with pytest.raises(OSError, match="disk full"):
        if fail_at == "csv":
            sweep.write_csv(path, rows)
        else:
            sweep.plot_to_file(rows, ["a"], path)
    assert path.read_text() == "before" and [p.name for p in tmp_path.iterdir()] == [path.name]
