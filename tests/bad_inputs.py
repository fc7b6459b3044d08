"""The bad-input table: a mistake a learner can make, and the error it must get.

Each area has a file ``test_bad_inputs_<area>.py`` holding a list ``CASES`` of :class:`Case`
and one parametrised test that calls :func:`check` on each. A case is one call that must raise
``error`` with a message that says three things, each matched by a regular expression:
``expected`` (what the function wanted), ``got`` (what it received) and ``fix`` (what to do).
To add a case, append ``case(...)`` to the list of its area::

    case("losses/batch-of-one", lambda: xm.losses.clip_loss(one, one, logit_scale=1.0),
         ValueError, r"at least 2 pairs", r"got 1", r"larger batch_size|drop_last=True")

Command-line cases go through :func:`cli`, which turns a non-zero exit status into a
:class:`CommandFailed` carrying what the command printed to stderr.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Case:
    """One bad input and the error it must get."""

    id: str  # "area/what-is-wrong"
    call: Callable[[], object]  # makes the mistake
    error: type[BaseException] | tuple[type[BaseException], ...]  # the exception type raised
    expected: str  # regex: the message says what was expected ...
    got: str  # ... what came instead ...
    fix: str  # ... and what to do


def case(id: str, call, error, expected: str, got: str, fix: str) -> Case:
    return Case(id, call, error, expected, got, fix)


def message(err: BaseException) -> str:
    """The text a learner reads (a ``KeyError`` quotes its message: unwrap it)."""
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], str):
        return err.args[0]
    return str(err)


def check(c: Case) -> None:
    """``c.call()`` raises ``c.error`` and its message says what was expected, what came and
    what to do."""
    with pytest.raises(c.error) as info:
        c.call()
    text = message(info.value)
    for part, pattern in (("what was expected", c.expected), ("what came", c.got),
                          ("what to do", c.fix)):  # fmt: skip
        assert re.search(pattern, text, re.S), f"{c.id}: does not say {part} ({pattern!r}): {text}"


def table(cases: list[Case]):
    """``@table(CASES)`` parametrises a test over the cases, one test id per case."""
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    return pytest.mark.parametrize("bad", cases, ids=ids)


class CommandFailed(Exception):
    """A command that exited with a non-zero status; its message is what it printed on stderr."""

    def __init__(self, status: int, stderr: str):
        super().__init__(stderr.strip())
        self.status = status


def cli(*argv: str) -> int:
    """Run ``xmlab *argv`` in this process; raise :class:`CommandFailed` unless it exits 0."""
    from xmlab.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(list(argv))
        except SystemExit as exit_:  # argparse's own usage errors
            status = exit_.code
    if status:
        raise CommandFailed(status, err.getvalue())
    return status
