"""Whole-file writes, and output paths checked before the work that fills them."""

import os

import pytest

from nmt import atomic
from nmt.atomic import output_file, remove_temporaries, write_atomic, write_output
from nmt.errors import NmtError


def test_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old\n" * 246)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(NmtError, match=r"out\.txt: cannot write \(No space left on device\)"):
        write_output(target, b"new\n" * 117)
    assert target.read_text() == "old\n" * 246
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_leftover_temporaries_are_removed(tmp_path):
    (tmp_path / ".last.pt.abc.tmp").write_bytes(b"partial")
    (tmp_path / "keep.pt").write_bytes(b"x")
    remove_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pt"]


def test_output_file_must_be_a_file_in_a_writable_folder(tmp_path):
    assert output_file(str(tmp_path / "a.en"), "-o") == tmp_path / "a.en"
    with pytest.raises(NmtError, match=r"-o .*out/: is a folder"):
        output_file(f"{tmp_path}/out/", "-o")
    with pytest.raises(NmtError, match="is a folder"):
        output_file(str(tmp_path), "-o")
    with pytest.raises(NmtError, match=r"the folder .*missing does not exist"):
        output_file(str(tmp_path / "missing" / "a.en"), "-o")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_output_file_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(NmtError, match="cannot write in the folder"):
            output_file(str(folder / "a.en"), "-o")
    finally:
        folder.chmod(0o700)
