"""Reading corpus files: lines exactly as written, and one clear line for each bad input."""

import gzip
import io

import pytest

from nmt.errors import NmtError
from nmt.textio import MAX_LINE_BYTES, decode_lines, read_lines, read_parallel, stream_lines


def test_lines_keep_inner_and_edge_spaces(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"  two  spaces \nsecond\tline\n\nlast\n")
    assert read_lines(path) == ["  two  spaces ", "second\tline", "", "last"]


def test_bom_and_missing_final_newline_like_iwslt15(tmp_path):
    path = tmp_path / "test.vi"
    path.write_bytes("\ufeffXin chào .\nCảm ơn rất nhiều .".encode())
    assert read_lines(path) == ["Xin chào .", "Cảm ơn rất nhiều ."]


def test_crlf_newlines_and_unicode_line_separators(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("one\r\ntwo\u2028still two\x0bstill\r\n".encode())
    assert read_lines(path) == ["one", "two\u2028still two\x0bstill"]


def test_gzip_files_are_read_transparently(tmp_path):
    path = tmp_path / "a.de.gz"
    path.write_bytes(gzip.compress("Grüße\nzwei\n".encode()))
    assert read_lines(path) == ["Grüße", "zwei"]


def test_empty_file_has_no_lines(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert read_lines(path) == []


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\nbroken \xff here\n")
    with pytest.raises(NmtError, match=r"bad\.txt: line 3 is not valid UTF-8") as error:
        read_lines(path)
    assert "\n" not in str(error.value)


def test_replace_mode_counts_lines_with_bad_bytes(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nbad \xff\xfe\nok\nbad \xc3\n")
    lines, bad = read_lines(path, errors="replace")
    assert lines == ["fine", "bad \ufffd\ufffd", "ok", "bad \ufffd"]
    assert bad == 2
    assert read_lines(tmp_path / "bad.txt", errors="replace")[1] == 2


def test_replace_mode_on_clean_file_counts_zero(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_text("a\nb\n", encoding="utf-8")
    assert read_lines(path, errors="replace") == (["a", "b"], 0)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(NmtError, match=r"nope\.txt: file not found") as error:
        read_lines(tmp_path / "nope.txt")
    assert "\n" not in str(error.value)


def test_corrupt_gzip_is_reported(tmp_path):
    path = tmp_path / "broken.gz"
    data = gzip.compress(b"some text\n" * 100)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NmtError, match=r"broken\.gz: not a valid gzip file"):
        read_lines(path)


def test_read_parallel_returns_both_sides(tmp_path):
    (tmp_path / "a.de").write_text("Hallo\nWelt\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("Hello\nWorld", encoding="utf-8")
    assert read_parallel(tmp_path / "a.de", tmp_path / "a.en") == (
        ["Hallo", "Welt"],
        ["Hello", "World"],
    )


def test_read_parallel_names_both_files_and_counts(tmp_path):
    (tmp_path / "x.de").write_text("1\n2\n3\n", encoding="utf-8")
    (tmp_path / "x.en").write_text("1\n2\n3\n4\n", encoding="utf-8")
    with pytest.raises(NmtError) as error:
        read_parallel(tmp_path / "x.de", tmp_path / "x.en")
    message = str(error.value)
    assert "x.de has 3 lines" in message and "x.en has 4" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"one\r\ntwo",
        "\ufeffbom\n\ufeffkept\n".encode(),
        b"bad \xff\xfe\n\ngood\n  \n",
        "no final newline \u2028 inside".encode(),
    ],
)
def test_streamed_lines_are_the_lines_of_the_whole_input(data):
    lines, bad = decode_lines(data, "<stdin>", errors="replace")
    streamed = list(stream_lines(io.BytesIO(data)))
    assert [text for text, _ in streamed] == lines
    assert sum(invalid for _, invalid in streamed) == bad


def test_a_line_longer_than_the_bound_names_the_file_and_line(tmp_path):
    long = b"x" * (MAX_LINE_BYTES + 1)
    plain, packed = tmp_path / "long.txt", tmp_path / "long.txt.gz"
    plain.write_bytes(b"one\ntwo\n" + long + b"\nfour\n")
    packed.write_bytes(gzip.compress(b"one\n" + long))
    for path, line in ((plain, 3), (packed, 2)):
        with pytest.raises(NmtError, match=rf"long\.txt(\.gz)?: line {line} is longer than"):
            read_lines(path)
    with pytest.raises(NmtError, match=r"<stdin>: line 2 is longer than 1048576 bytes"):
        list(stream_lines(io.BytesIO(b"one\n" + long + b"\n")))
    bounded = b"y" * MAX_LINE_BYTES
    plain.write_bytes((bounded + b"\n") * 3)
    assert read_lines(plain) == [bounded.decode()] * 3
    assert [text for text, _ in stream_lines(io.BytesIO(bounded + b"\n" + bounded))] == [
        bounded.decode()
    ] * 2
