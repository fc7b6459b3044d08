import pytest

from xmlab import classroom


def test_classroom_value_unless_the_test_suite_asks_for_light(monkeypatch):
    monkeypatch.delenv(classroom.ENV_VAR, raising=False)
    assert classroom.default(8, ci=2) == 8 and not classroom.light()
    for value in ("1", "true", "YES"):
        monkeypatch.setenv(classroom.ENV_VAR, value)
        assert classroom.default(8, ci=2) == 2
    monkeypatch.setenv(classroom.ENV_VAR, "0")
    assert classroom.default(20000, ci=4000) == 20000


def test_mistakes_are_explained(monkeypatch):
    monkeypatch.setenv(classroom.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="set it to 1"):
        classroom.light()
    monkeypatch.delenv(classroom.ENV_VAR)
    with pytest.raises(TypeError, match="same type"):
        classroom.default(8, ci=2.5)
