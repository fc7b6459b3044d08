"""The bad-input table as a whole: every area of the kit has its cases, 100 or more in all."""

import importlib
from pathlib import Path

from bad_inputs import Case

AREAS = ["data", "download", "text", "audio", "images", "encoders", "losses", "fusion",
         "registry", "train", "checkpoint", "metrics", "record", "cli"]  # fmt: skip


def all_cases():
    """Every :class:`bad_inputs.Case` of the area files (``test_bad_inputs_course.py`` keeps
    rows of its own for ``xmlab student`` / ``xmlab grade``, checked there, not counted here)."""
    files = sorted(Path(__file__).parent.glob("test_bad_inputs_*.py"))
    found = [c for f in files for c in getattr(importlib.import_module(f.stem), "CASES", [])]
    return [c for c in found if isinstance(c, Case)]


def test_the_table_covers_every_area_with_at_least_100_cases():
    cases = all_cases()
    ids = [c.id for c in cases]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)
    per_area = {area: sum(i.startswith(f"{area}/") for i in ids) for area in AREAS}
    assert all(per_area.values()), per_area
    assert sum(per_area.values()) == len(ids), "every case id starts with one of the areas"
