"""Running the course: the notebook runner and its summary, ``record``, parameter sweeps,
classroom defaults, and student versions of the notebooks.

``xmlab run`` executes the notebooks (``runner``), each notebook reports its key figures with
``xm.record`` (``record``), ``xmlab sweep`` runs one notebook over a grid (``sweep``),
``xm.classroom.default`` picks lighter values for the test suite (``classroom``), and
``xmlab student`` writes the notebooks with solutions replaced by stubs (``student``).

Explained in: README.md and docs/teaching.md
"""

from xmlab.course import classroom, record, student, sweep
from xmlab.course.record import ENV_VAR, read_records, recorded
from xmlab.course.runner import (
    NotebookResult,
    execute,
    execute_in_subprocess,
    failed_cell,
    find_notebooks,
    new_run_folder,
    run_course,
    summary_markdown,
)

__all__ = [
    "ENV_VAR",
    "NotebookResult",
    "classroom",
    "execute",
    "execute_in_subprocess",
    "failed_cell",
    "find_notebooks",
    "new_run_folder",
    "read_records",
    "record",
    "recorded",
    "run_course",
    "student",
    "summary_markdown",
    "sweep",
]
