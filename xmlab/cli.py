"""The ``xmlab`` command: run the course, sweep a notebook's parameters, make student versions,
grade submissions.

``xmlab run`` executes the course, ``xmlab sweep`` runs one notebook over a parameter grid,
``xmlab student`` writes the notebooks with solutions replaced by stubs, ``xmlab grade`` runs
students' notebooks with the teacher's checks, ``xmlab info`` describes the setup.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xmlab.course.sweep import parse_value


def cmd_run(args: argparse.Namespace) -> int:
    from xmlab.course.runner import find_notebooks, run_course, summary_markdown

    notebooks = find_notebooks(args.notebooks)
    if args.only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in args.only)]
        if not notebooks:
            print(f"no notebook matches {args.only}", file=sys.stderr)
            return 2
    parameters = {name: parse_value(value) for name, value in args.parameter or []}
    run, results = run_course(notebooks, out=args.out, parameters=parameters)
    print("\n" + summary_markdown(results))
    print(f"executed notebooks and summary.md / summary.json in {run}")
    return 0 if all(r.status == "ok" for r in results) else 1


def sweep_grid(pairs: list[list[str]]) -> dict[str, list]:
    """The grid of ``-p`` options: ``[["lr", "0.1", "0.01"], ["bs", "32"]]`` ->
    ``{"lr": [0.1, 0.01], "bs": [32]}``."""
    grid: dict[str, list] = {}
    for name, *values in pairs:
        if not values:
            raise ValueError(f"-p {name} has no values: write -p {name} VALUE [VALUE ...]")
        if name in grid:
            raise ValueError(f"-p {name} is given twice: list all its values after one -p")
        grid[name] = [parse_value(v) for v in values]
    return grid


def cmd_sweep(args: argparse.Namespace) -> int:
    from xmlab.course.sweep import markdown_table, numeric_metrics, run_sweep

    try:
        grid = sweep_grid(args.parameter)
    except ValueError as err:
        print(f"xmlab sweep: {err}", file=sys.stderr)
        return 2
    sweep = run_sweep(args.notebook, grid, out=args.out, workers=args.workers, metric=args.metric)
    columns = ["run", "status", "seconds", *grid, *numeric_metrics(sweep.rows, list(grid))]
    print("\n" + markdown_table(sweep.rows, columns))
    for row in sweep.failed:
        print(f"run {row['run']} failed at {row['error']}")
    print(f"\nresults.csv, sweep.png and each run's notebook in {sweep.folder}")
    return 1 if sweep.failed else 0


def cmd_student(args: argparse.Namespace) -> int:
    from xmlab.course.student import write_student_versions

    try:
        exercises = write_student_versions(args.notebooks, args.out)
        if args.guide:
            from xmlab.course.exercises import sync_guide

            changed = sync_guide(args.guide, args.notebooks)
    except (ValueError, FileNotFoundError) as err:
        print(f"xmlab student: {err}", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    for ex in exercises:
        counts[ex.notebook] = counts.get(ex.notebook, 0) + 1
    for name, count in counts.items():
        print(f"{name}: {count} exercise{'s' * (count != 1)}")
    out = args.out or Path(args.notebooks) / "student"
    print(f"{len(exercises)} solutions replaced by stubs; student notebooks in {out}")
    if args.guide:
        print(
            f"exercise table and answer key in {args.guide} {'updated' if changed else 'unchanged'}"
        )
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from xmlab.course.grade import WRITTEN, grade, summary_table

    try:
        rows = grade(args.submissions, args.teacher, out=args.output, timeout=args.timeout)
    except (ValueError, FileNotFoundError) as err:
        print(f"xmlab grade: {err}", file=sys.stderr)
        return 2
    print("\n" + summary_table(rows))
    problems = [r for r in rows if r.passed != 1 and r.exercise != "total" and r.error != WRITTEN]
    for r in problems:
        where = f"{r.student}/{r.notebook}" + (
            f" exercise {r.exercise}" if r.exercise != "" else ""
        )
        print(f"{where}: {r.error}")
    print(f"\ngradebook: {args.output}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import torch

    import xmlab
    from xmlab.utils import get_device

    print(f"xmlab {xmlab.__version__} ({Path(xmlab.__file__).parent})")
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}")
    print(f"device 'auto' -> {get_device('auto')}; CPU threads {torch.get_num_threads()}")
    return 0


def _add_run(sub) -> None:
    run = sub.add_parser("run", help="execute the course notebooks in order and summarise them")
    run.add_argument("--notebooks", default="notebooks", help="folder of NN_name.ipynb files")
    run.add_argument("--out", default="runs", help="where run folders are made")
    run.add_argument(
        "--only", nargs="+", metavar="PREFIX", help="only notebooks starting so, e.g. 00"
    )
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a papermill parameter for every notebook (repeatable)",
    )
    run.set_defaults(func=cmd_run)


def _add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", help="run one notebook over a grid of parameters")
    sweep.add_argument("notebook", help="the notebook; it needs a cell tagged 'parameters'")
    sweep.add_argument(
        "-p",
        "--parameter",
        nargs="+",
        action="append",
        required=True,
        metavar="NAME VALUE",
        help="a parameter and its values, e.g. -p temperature 0.03 0.1 0.3 (repeatable)",
    )
    sweep.add_argument("--out", default="runs/sweeps", help="where sweep folders are made")
    sweep.add_argument("--workers", type=int, help="runs at once (default: one per CPU core)")
    sweep.add_argument("--metric", help="the recorded metric to plot (default: the first)")
    sweep.set_defaults(func=cmd_sweep)


def _add_student(sub) -> None:
    student = sub.add_parser("student", help="write the notebooks with solutions as stubs")
    student.add_argument("--notebooks", default="notebooks", help="the teacher notebooks")
    student.add_argument("--out", help="where the student versions go (default: NOTEBOOKS/student)")
    student.add_argument(
        "--guide",
        metavar="MARKDOWN",
        help="also rewrite the exercise table and answer key in this guide, e.g. docs/teaching.md",
    )
    student.set_defaults(func=cmd_student)


def _add_grade(sub) -> None:
    grade = sub.add_parser(
        "grade",
        help="run students' notebooks with the teacher's checks into a gradebook",
        description="Run every student's notebooks with the teacher's check cells. WARNING: "
        "this executes the students' code with your permissions; grade in a container or an "
        "account that holds nothing else.",
    )
    grade.add_argument("submissions", help="a folder with one folder per student")
    grade.add_argument("--teacher", default="notebooks", help="the teacher notebooks")
    grade.add_argument("-o", "--output", default="gradebook.csv", help="the CSV gradebook")
    grade.add_argument(
        "--timeout", type=float, default=600, help="seconds one notebook may run (default 600)"
    )
    grade.set_defaults(func=cmd_grade)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xmlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_sweep(sub)
    _add_student(sub)
    _add_grade(sub)
    info = sub.add_parser("info", help="versions and the device 'auto' picks")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
