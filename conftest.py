"""pytest at the repository root, while nbval runs the course notebooks.

- Prove that each exercise's check fails on the student's stub
  (``xmlab/course/pytest_exercises.py``); the unit tests' own fixtures are in tests/.
- A notebook whose data is missing is skipped, with the reason. A notebook declares what it needs
  beyond the kit in its metadata (``xmlab.needs``, see ``xmlab/needs.py``). Where that is missing
  -- offline and no classroom mirror, an optional extra not installed -- every cell of the
  notebook is reported as skipped with the reason, instead of failing (or, worse, passing
  without running).
"""

import pytest

pytest_plugins = ("xmlab.course.pytest_exercises",)


def pytest_collection_modifyitems(config, items):
    from xmlab.needs import skip_reason

    reasons = {}
    for item in items:
        path = getattr(item, "path", None)
        if path is None or path.suffix != ".ipynb":
            continue
        if path not in reasons:
            reasons[path] = skip_reason(path)
        if reasons[path]:
            item.add_marker(pytest.mark.skip(reason=f"{path.name} {reasons[path]}"))
