"""While nbval runs the course notebooks, prove that each exercise's check fails on the student's
stub (``xmlab/course/pytest_exercises.py``); the unit tests' own fixtures are in tests/."""

pytest_plugins = ("xmlab.course.pytest_exercises",)
