"""Cache, classroom mirror, internet: every source checked, a bad one skipped, failures named.

All offline: the mirror is a temporary folder (or a URL prefix served by a fake fetch), and the
internet is a fake fetch.
"""

import dataclasses
import hashlib
import pathlib

import pytest
from test_download import fsdd_archive

from xmlab.data import cache
from xmlab.data import download as dl

GOOD = b"the real file\n" * 100
PORTAL = b"<html><body>Please log in to the guest network</body></html>"
REMOTE = cache.RemoteFile(
    "data.bin",
    ("https://one.example/data.bin", "https://two.example/data.bin"),
    hashlib.sha256(GOOD).hexdigest(),
)


class Internet:
    """A fake fetch: serves ``pages`` (url -> bytes), fails on anything else, logs every url."""

    def __init__(self, pages=None):
        self.pages, self.seen = pages or {}, []

    def __call__(self, url):
        self.seen.append(url)
        if url not in self.pages:
            raise OSError(f"no route to {url}")
        return self.pages[url]


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    folder = tmp_path / "shared-drive"
    folder.mkdir()
    monkeypatch.setenv(cache.MIRROR_VAR, str(folder))
    return folder


def test_mirror_hit_is_copied_into_the_cache_without_the_internet(tmp_path, mirror):
    (mirror / "sub").mkdir()
    (mirror / "sub" / "data.bin").write_bytes(GOOD)
    internet = Internet()
    path = cache.ensure_file(REMOTE, "sub", root=tmp_path / "cache", fetch=internet)
    assert path == tmp_path / "cache" / "sub" / "data.bin" and path.read_bytes() == GOOD
    assert internet.seen == []
    (mirror / "sub" / "data.bin").unlink()  # the next call is served by the cache alone
    assert cache.ensure_file(REMOTE, "sub", root=tmp_path / "cache", fetch=internet) == path


def test_flat_mirror_folder_works_too(tmp_path, mirror):
    (mirror / "data.bin").write_bytes(GOOD)  # like ../shared/datasets: files side by side
    path = cache.ensure_file(REMOTE, "sub", root=tmp_path / "cache", fetch=Internet())
    assert path.read_bytes() == GOOD


def test_mirror_miss_falls_back_to_the_internet(tmp_path, mirror):
    internet = Internet({REMOTE.urls[0]: GOOD})
    path = cache.ensure_file(REMOTE, "sub", root=tmp_path / "cache", fetch=internet)
    assert path.read_bytes() == GOOD and internet.seen == [REMOTE.urls[0]]


def test_corrupted_file_in_the_mirror_is_skipped(tmp_path, mirror):
    (mirror / "sub").mkdir()
    (mirror / "sub" / "data.bin").write_bytes(GOOD[:-1] + b"?")  # one byte changed
    internet = Internet({REMOTE.urls[0]: GOOD})
    path = cache.ensure_file(REMOTE, "sub", root=tmp_path / "cache", fetch=internet)
    assert path.read_bytes() == GOOD and internet.seen == [REMOTE.urls[0]]
    assert (mirror / "sub" / "data.bin").read_bytes() != GOOD  # the mirror is only read


def test_url_mirror_is_asked_first(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.MIRROR_VAR, "http://classroom.example/xmlab/")
    internet = Internet({"http://classroom.example/xmlab/sub/data.bin": GOOD})
    path = cache.ensure_file(REMOTE, "sub", root=tmp_path, fetch=internet)
    assert path.read_bytes() == GOOD
    assert internet.seen == ["http://classroom.example/xmlab/sub/data.bin"]


def test_captive_portal_page_does_not_stop_the_download(tmp_path):
    internet = Internet({REMOTE.urls[0]: PORTAL, REMOTE.urls[1]: GOOD})
    path = cache.ensure_file(REMOTE, "sub", root=tmp_path, fetch=internet)
    assert path.read_bytes() == GOOD and internet.seen == list(REMOTE.urls)


def test_portal_page_for_a_gzip_file_is_skipped_too(tmp_path):
    import gzip

    remote = dataclasses.replace(
        REMOTE, sha256=hashlib.sha256(GOOD).hexdigest(), gunzipped=True
    )  # the hash of the decompressed bytes: a page that is not gzip at all must not crash it
    internet = Internet({REMOTE.urls[0]: PORTAL, REMOTE.urls[1]: gzip.compress(GOOD)})
    assert (
        gzip.decompress(cache.ensure_file(remote, "s", root=tmp_path, fetch=internet).read_bytes())
        == GOOD
    )


def test_every_failure_is_reported_when_all_sources_fail(tmp_path, mirror):
    (mirror / "data.bin").write_bytes(PORTAL)
    internet = Internet({REMOTE.urls[1]: PORTAL})
    with pytest.raises(cache.DataUnavailableError) as info:
        cache.ensure_file(REMOTE, "sub", root=tmp_path / "cache", fetch=internet)
    message = str(info.value)
    for source, what in [
        (str(mirror / "sub" / "data.bin"), "not there"),
        (str(mirror / "data.bin"), "wrong bytes"),
        (REMOTE.urls[0], "no route"),
        (REMOTE.urls[1], "wrong bytes"),
    ]:
        assert f"{source}: " in message and what in message.split(f"{source}: ")[1].split(";")[0]
    assert "XMLAB_MIRROR" in message and "by hand" in message
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.bin"))


def test_only_wrong_bytes_everywhere_is_a_checksum_error(tmp_path):
    internet = Internet({url: PORTAL for url in REMOTE.urls})
    with pytest.raises(cache.ChecksumError, match="every source .* nothing was kept.*log in"):
        cache.ensure_file(REMOTE, "sub", root=tmp_path, fetch=internet)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_stale_copy_in_a_read_only_cache_is_explained(tmp_path, monkeypatch):
    stale = tmp_path / "sub" / "data.bin"
    stale.parent.mkdir()
    stale.write_bytes(b"an older version")
    real_unlink = pathlib.Path.unlink

    def read_only_unlink(self, *args, **kwargs):  # a read-only cache, even for root
        if self == stale:
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "unlink", read_only_unlink)
    with pytest.raises(
        cache.DataUnavailableError, match="cannot be replaced.*read-only.*XMLAB_DATA"
    ):
        cache.ensure_file(REMOTE, "sub", root=tmp_path, fetch=Internet({REMOTE.urls[0]: GOOD}))


def test_good_copy_in_a_read_only_cache_is_used(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(GOOD)
    monkeypatch.setattr(cache, "atomic_write", lambda *a: pytest.fail("nothing to write"))
    assert cache.ensure_file(REMOTE, "sub", root=tmp_path, fetch=Internet()).read_bytes() == GOOD


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("  ", []),
        ("/srv/xmlab", ["/srv/xmlab/fsdd/f.tar.gz", "/srv/xmlab/f.tar.gz"]),
        ("file:///srv/xmlab/", ["/srv/xmlab/fsdd/f.tar.gz", "/srv/xmlab/f.tar.gz"]),
        (
            "https://c.example/x/",
            ["https://c.example/x/fsdd/f.tar.gz", "https://c.example/x/f.tar.gz"],
        ),
    ],
)
def test_mirror_sources(monkeypatch, value, expected):
    monkeypatch.setenv(cache.MIRROR_VAR, value)
    assert cache.mirror_sources("f.tar.gz", "fsdd") == expected


def test_no_mirror_when_unset(monkeypatch):
    monkeypatch.delenv(cache.MIRROR_VAR, raising=False)
    assert cache.mirror_sources("f.tar.gz", "fsdd") == []


def test_fsdd_loads_from_a_classroom_mirror_offline(tmp_path, mirror, monkeypatch):
    archive = fsdd_archive()
    monkeypatch.setattr(
        dl, "FSDD", dataclasses.replace(dl.FSDD, sha256=hashlib.sha256(archive).hexdigest())
    )
    (mirror / dl.FSDD.name).write_bytes(archive)
    test = dl.load_fsdd("test", by="speaker", root=tmp_path / "cache", fetch=Internet())
    assert {c["speaker"] for c in test} == {"theo"} and len(test) == 16
    assert (tmp_path / "cache" / "fsdd" / dl.FSDD.name).read_bytes() == archive
