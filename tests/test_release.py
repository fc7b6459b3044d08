"""One place for the release: every link and install cell follows xmlab/release.py."""

import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest

import xmlab
from xmlab import release

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("release_links", ROOT / "tools/release_links.py")
release_links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(release_links)


def test_every_link_and_install_cell_points_at_the_release():
    drift = release_links.drifted(ROOT)
    names = sorted(str(p.relative_to(ROOT)) for p in drift)
    assert not drift, f"{names} differ from xmlab/release.py: run python tools/release_links.py"


def test_links_name_the_tag_of_the_version():
    assert xmlab.__version__ == release.__version__
    assert release.tag() == f"v{release.__version__}"
    assert release.requirement() == f"xmlab @ git+{release.REPOSITORY}@{release.tag()}"
    path = "notebooks/00_welcome.ipynb"
    owner, name = release.github()
    assert release.colab_url(path).endswith(f"/{owner}/{name}/blob/{release.tag()}/{path}")
    binder = release.binder_url(path)
    assert binder.endswith(f"/{owner}/{name}/{release.tag()}?urlpath=lab/tree/{path}")
    assert release.raw_url(path) == (
        f"https://raw.githubusercontent.com/{owner}/{name}/{release.tag()}/{path}"
    )


def test_repository_that_is_not_on_github_is_refused(monkeypatch):
    monkeypatch.setattr(release, "REPOSITORY", "https://gitlab.com/someone/xmlab")
    with pytest.raises(ValueError, match="github.com/OWNER/NAME"):
        release.colab_url("notebooks/00_welcome.ipynb")


def _fork(tmp_path: Path) -> Path:
    """A copy of the files the release's links live in, with another REPOSITORY line."""
    fork = tmp_path / "fork"
    shutil.copytree(ROOT / "notebooks", fork / "notebooks", ignore=shutil.ignore_patterns(".*"))
    for name in ("README.md", "docs/teaching.md", "pyproject.toml", "xmlab/release.py"):
        (fork / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, fork / name)
    text = (fork / "xmlab/release.py").read_text()
    line = f'REPOSITORY = "{release.REPOSITORY}"'
    assert line in text
    new_line = 'REPOSITORY = "https://github.com/a-school/course"'
    (fork / "xmlab/release.py").write_text(text.replace(line, new_line))
    return fork


def test_a_fork_changes_the_repository_in_one_line(tmp_path):
    fork = _fork(tmp_path)
    student = fork / "notebooks/student/00_welcome.ipynb"  # a copy must link to itself
    student.parent.mkdir(exist_ok=True)
    shutil.copy(fork / "notebooks/00_welcome.ipynb", student)
    forked = release_links.load_release(fork)
    changed = release_links.drifted(fork, forked)
    assert fork / "README.md" in changed and student in changed
    for path, text in changed.items():
        path.write_text(text)
    assert release_links.drifted(fork, forked) == {}
    old = release.REPOSITORY.removeprefix("https://github.com/")
    files = [p for p in fork.rglob("*") if p.is_file() and p.name != "release.py"]
    assert not [p for p in files if old in p.read_text()], "a link still names the old repository"
    nb = nbformat.read(student, as_version=4)
    assert forked.colab_url("notebooks/student/00_welcome.ipynb") in nb.cells[0].source
    assert forked.binder_url("notebooks/student/00_welcome.ipynb") in nb.cells[0].source
    install = next(c.source for c in nb.cells if c.cell_type == "code")
    assert install == forked.install_cell() and "a-school/course@v" in install


def test_update_notebook_leaves_a_notebook_without_badges_alone():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# helper"), nbformat.v4.new_code_cell("x = 1")]
    )
    assert release.update_notebook(nb, "notebooks/experiments/x.ipynb") is False
    assert [c.source for c in nb.cells] == ["# helper", "x = 1"]


def test_check_mode_reports_drift_and_changes_nothing(tmp_path, monkeypatch, capsys):
    fork = _fork(tmp_path)
    before = (fork / "README.md").read_text()
    monkeypatch.setattr(release_links, "ROOT", fork)
    assert release_links.main(["--check"]) == 1
    out, err = capsys.readouterr()
    assert "README.md" in out and "run python tools/release_links.py" in err
    assert (fork / "README.md").read_text() == before
    assert release_links.main([]) == 0 and release_links.main(["--check"]) == 0


def test_a_notebook_that_needs_an_extra_installs_it_on_colab():
    """Lesson 08's pretrained tower needs the ``pretrained`` extra: its install cell asks for it
    (from ``metadata.xmlab.extras``), every other notebook installs the plain kit."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(release.install_cell())])
    nb.metadata["xmlab"] = {"needs": ["fsdd"], "extras": ["pretrained"]}
    assert release.update_notebook(nb, "notebooks/08_real_data.ipynb") is True
    assert f'"xmlab[pretrained] @ git+{release.REPOSITORY}@{release.tag()}"' in nb.cells[0].source
    lesson = nbformat.read(ROOT / "notebooks" / "08_real_data.ipynb", as_version=4)
    install = next(c.source for c in lesson.cells if c.cell_type == "code")
    assert install == release.install_cell(("pretrained",))
