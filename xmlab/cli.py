"""The ``xmlab`` command: ``xmlab run`` executes the course; ``xmlab info`` describes the setup."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parse_value(text: str):
    """Command-line parameter values: ints, floats, booleans, or strings."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def cmd_run(args: argparse.Namespace) -> int:
    from xmlab.course import find_notebooks, run_course, summary_markdown

    notebooks = find_notebooks(args.notebooks)
    if args.only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in args.only)]
        if not notebooks:
            print(f"no notebook matches {args.only}", file=sys.stderr)
            return 2
    parameters = {name: _parse_value(value) for name, value in args.parameter or []}
    run, results = run_course(notebooks, out=args.out, parameters=parameters)
    print("\n" + summary_markdown(results))
    print(f"executed notebooks and summary.md / summary.json in {run}")
    return 0 if all(r.status == "ok" for r in results) else 1


def cmd_info(args: argparse.Namespace) -> int:
    import torch

    import xmlab
    from xmlab.utils import get_device

    print(f"xmlab {xmlab.__version__} ({Path(xmlab.__file__).parent})")
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}")
    print(f"device 'auto' -> {get_device('auto')}; CPU threads {torch.get_num_threads()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xmlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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
    info = sub.add_parser("info", help="versions and the device 'auto' picks")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
