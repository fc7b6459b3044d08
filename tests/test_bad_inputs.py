"""The bad-input table as a whole: every area of the kit has its cases, 100 or more in all."""

import importlib
from pathlib import Path

AREAS = ["data", "download", "text", "audio", "images", "encoders", "losses", "fusion",
         "registry", "train", "checkpoint", "metrics", "record", "cli"]  # fmt: skip


def all_cases():
    files = sorted(Path(__file__).parent.glob("test_bad_inputs_*.py"))
    return [c for f in files for c in importlib.import_module(f.stem).CASES]


def test_the_table_covers_every_area_with_at_least_100_cases():
    cases = all_cases()
    ids = [c.id for c in cases]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)
    per_area = {area: sum(i.startswith(f"{area}/") for i in ids) for area in AREAS}
    assert all(per_area.values()), per_area
    assert sum(per_area.values()) == len(ids), "every case id starts with one of the areas"
