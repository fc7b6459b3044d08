"""A pytest plugin for nbval runs: before each exercise of a notebook, prove that its check cell
fails on the student's stub.

nbval executes a notebook's cells one by one in a single kernel, so by the time it reaches an
exercise the kernel holds everything the lessons built before it. This plugin adds one test item
in front of each code exercise, in the same kernel: it runs the student's version of the cell
(the solution replaced by its stub) and then the check cell, and fails when the check passes.
nbval then runs the teacher's cell and its check as usual, which proves the other half: the
check passes with the solution. One execution of each notebook proves both, for every exercise
of every notebook, including notebooks added later.

The repository's ``conftest.py`` loads it; elsewhere: ``pytest -p xmlab.course.pytest_exercises
--nbval-lax notebooks/``.

Explained in: docs/teaching.md
"""

from __future__ import annotations

import nbformat

from xmlab.course.exercises import stub_source
from xmlab.course.student import find_exercises

_PROOF = """from xmlab.course.exercises import check_fails_on_stub as _xmlab_check_fails_on_stub

print(_xmlab_check_fails_on_stub(get_ipython(), {stub!r}, {check!r}, number={number}))
"""


def proof_source(nb, exercise) -> str:
    """The code of the item that proves ``exercise``'s check fails on its stub."""
    check = nb.cells[exercise.check].source
    return _PROOF.format(stub=stub_source(nb, exercise), check=check, number=exercise.number)


def _proof_items(parent, items):
    """``items`` of one notebook with a proof item before each code exercise."""
    from collections import defaultdict

    from nbval.plugin import IPyNbCell

    nb = parent.nb
    by_cell = {id(item.cell): item for item in items}
    before = {}
    for ex in find_exercises(nb, parent.name):
        if ex.kind != "code" or ex.check is None or id(nb.cells[ex.cell]) not in by_cell:
            continue
        target = by_cell[id(nb.cells[ex.cell])]
        cell = nbformat.v4.new_code_cell(proof_source(nb, ex))
        options = defaultdict(bool, check=False)
        proof = IPyNbCell.from_parent(
            parent,
            name=f"{target.name} exercise {ex.number} check fails on the stub",
            cell_num=target.cell_num,
            cell=cell,
            options=options,
        )
        before.setdefault(id(target), []).append(proof)
    return [new for item in items for new in [*before.get(id(item), []), item]]


def pytest_collection_modifyitems(session, config, items):
    """Insert the proof items in front of each notebook's exercise cells."""
    try:
        from nbval.plugin import IPyNbCell, IPyNbFile
    except ImportError:  # nbval is not installed: no notebook items to prove
        return
    groups, order = {}, []
    for item in items:
        key = (
            item.parent
            if isinstance(item, IPyNbCell) and isinstance(item.parent, IPyNbFile)
            else None
        )
        if key is None or id(key) not in groups:
            order.append((key, item))
        if key is not None:
            groups.setdefault(id(key), []).append(item)
    result = []
    for key, item in order:
        result += _proof_items(key, groups[id(key)]) if key is not None else [item]
    items[:] = result
