"""Open a spreadsheet file for DuckDB: format, encoding, delimiter, header row, sheet.

:func:`sniff` looks at the start of a file only and returns a :class:`SourceInfo`: format,
encoding, delimiter, the 1-based file row of the header, the header names and, for XLSX, the
sheets. :func:`open_source` turns that into an SQL relation whose columns are named ``c0 .. cN``
(so no header text from the file ever reaches SQL), with file row numbers where the format
allows them:

- CSV/TSV/TXT are read by DuckDB ``read_csv`` with ``all_varchar`` and an explicit column list,
  skipping the title rows above the header. UTF-8 (with or without BOM) goes to DuckDB as is;
  GBK/GB18030, UTF-16 and other encodings are first transcoded in streamed chunks to a temporary
  UTF-8 file (DuckDB reads GBK only through a network extension).
- Text aligned with blanks (CDNOW's ``CDNOW_master.txt``: `` 00001 19970101  1   11.77``) is
  converted in streamed chunks to a temporary tab-separated UTF-8 file with one line per file
  line, so values stay as written (``00001``) and row numbers stay the file's lines.
- Gzip files (``orders.csv.gz``) are sniffed from their decompressed start and decompressed in
  streamed chunks to a temporary file before reading, under the same size limit.
- XLSX sheets are streamed with openpyxl ``read_only`` into a temporary Parquet file carrying the
  sheet row number of every row.
- Parquet is read by DuckDB directly, keeping its column types, with ``file_row_number``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import gzip
import io
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb

from clm_core.errors import DataError, UsageError, first_line
from clm_core.store import quote_ident

__all__ = [
    "CSV_SUFFIXES",
    "DELIMITERS",
    "GZIP_SUFFIXES",
    "PARQUET_SUFFIXES",
    "XLSX_SUFFIXES",
    "Source",
    "SourceInfo",
    "detect_encoding",
    "detect_format",
    "find_header",
    "max_file_mb",
    "open_source",
    "sniff",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", "\t", ";", "|")
GZIP_SUFFIXES = (".gz",)

_SAMPLE_BYTES = 256 * 1024  # enough for the title rows, the header and ~1,000 data rows
_CHECK_BYTES = 8 * 1024 * 1024  # UTF-8 validity is checked on this much of the start and end
_CHUNK = 4 * 1024 * 1024
_SAMPLE_ROWS = 60
_DEFAULT_MAX_MB = 4096.0
_BOMB_RATIO = 200
_BOMB_PART_BYTES = 100 * 2**20
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_LINE = 10_000_000  # characters; DuckDB is given the same max_line_size
# Blank-aligned text: values are separated by runs of ASCII blanks only, so a no-break or
# ideographic space inside a value stays part of it.
_BLANKS = re.compile(r"[ \t\f\v]+")
_EDGE_BLANKS = re.compile(r"^[ \t\f\v]+|[ \t\f\v]+$", re.MULTILINE)
# Padding: a leading blank, two blanks in a row or a tab. Aligned columns have it; a one-column
# CSV of names ("Ann Lee") does not, so it is never split at its spaces.
_PADDED = re.compile(r"^[ \t\f\v]|[ \t\f\v]{2}|\t")
# Control characters and line breaks in header names: shown as one space, so every message
# naming a column stays on one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class SourceInfo:
    """What :func:`sniff` learnt about a file. ``header_row`` is the 1-based file row.

    ``layout`` is ``"delimited"`` or ``"whitespace"`` (columns aligned with blanks); for the
    latter ``delimiter`` is ``"\\t"``, the delimiter of the converted text DuckDB reads.
    ``compression`` is ``"gzip"`` or None; ``path`` and ``name`` stay the file's own.
    """

    path: Path
    format: str  # csv | xlsx | parquet
    columns: tuple[str, ...]
    types: tuple[str, ...]
    header_row: int = 1
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    layout: str = "delimited"
    compression: str | None = None
    sample: tuple[tuple[str | None, ...], ...] = field(default=(), repr=False)

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Source:
    """An SQL relation over the file: columns ``c0..cN``; ``row_sql`` is the file row or None."""

    relation: str
    params: dict
    row_sql: str | None
    csv_path: Path | None = None  # the UTF-8 delimited file DuckDB reads (CSV only)


def detect_format(path: str | os.PathLike) -> str:
    """csv, xlsx or parquet, from the suffix, checked against the first bytes."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    suffix = path.suffix.lower()
    if magic == b"PAR1":
        return "parquet"
    if magic.startswith(b"PK") and (suffix in XLSX_SUFFIXES or zipfile.is_zipfile(path)):
        return "xlsx"
    if suffix == ".xls" or magic == b"\xd0\xcf\x11\xe0":
        raise UsageError(f"{path.name}: old .xls workbooks are not supported; save it as .xlsx.")
    if suffix in XLSX_SUFFIXES + PARQUET_SUFFIXES:
        raise DataError("the file is not a valid workbook or Parquet file", file=path.name)
    return "csv"


def detect_encoding(path: str | os.PathLike) -> str:
    """The text encoding: a BOM, else UTF-8 if the start and end decode, else GB18030, else a guess.

    GB18030 is a superset of GBK and GB2312, the encodings of Chinese Excel exports. A gzip
    file is judged on its first 8 MB decompressed (its end would need the whole file).
    """
    path = Path(path)
    if _is_gzip(path):
        with _open_bytes(path, "gzip") as (fh, _):
            head = _read(fh, _CHECK_BYTES + 1, path)
        return _guess_encoding(head[:_CHECK_BYTES], b"", final=len(head) <= _CHECK_BYTES)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(_CHECK_BYTES)
        tail = b""
        if size > _CHECK_BYTES:
            fh.seek(max(_CHECK_BYTES, size - _CHECK_BYTES))
            tail = fh.read()
    return _guess_encoding(head, tail, final=size <= _CHECK_BYTES)


def _guess_encoding(head: bytes, tail: bytes, *, final: bool) -> str:
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if _decodes(head, "utf-8", final=final) and _decodes_tail(tail, "utf-8"):
        return "utf-8"
    if (
        _decodes(head, "gb18030", final=final)
        and _decodes_tail(tail, "gb18030")
        and _mostly_chinese((head + b"\n" + tail).decode("gb18030", errors="ignore"))
    ):
        return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(head[:_SAMPLE_BYTES]).best()
    if best is None or not _is_codec(best.encoding):
        return "latin-1"
    return best.encoding


def _is_codec(name: str) -> bool:
    try:
        codecs.getincrementaldecoder(name)
    except LookupError:
        return False
    return True


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _compression(path: Path) -> str | None:
    """The compression: gzip data (whatever the suffix) is "gzip", other files None; a file named
    .gz that is not gzip is refused."""
    if _is_gzip(path):
        inner = _text_suffix(path)
        if inner in XLSX_SUFFIXES + PARQUET_SUFFIXES + (".xls",):
            raise UsageError(
                f"{path.name}: compressed workbooks and Parquet files are not supported; "
                "decompress it first."
            )
        return "gzip"
    if path.suffix.lower() in GZIP_SUFFIXES:
        raise DataError("the file is not valid gzip data", file=path.name)
    return None


def _text_suffix(path: Path) -> str:
    """The suffix that says what the text is: ``.tsv`` for ``orders.tsv.gz``."""
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() if suffix in GZIP_SUFFIXES else suffix


@contextlib.contextmanager
def _open_bytes(path: Path, compression: str | None) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """The file's (decompressed) bytes, and the file itself, whose position tells progress."""
    with open(path, "rb") as raw:
        if compression == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz, raw
        else:
            yield raw, raw


def _read(fh: BinaryIO, n: int, path: Path) -> bytes:
    """``fh.read(n)``, with damaged compressed data reported as a DataError."""
    try:
        return fh.read(n)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"the file cannot be read ({first_line(e)})", file=path.name) from e


def _mostly_chinese(text: str) -> bool:
    """GB18030 decodes many Latin-1 byte pairs too ("Mü" is one valid character): accept it only
    when most non-ASCII characters are Chinese (CJK ideographs or full-width punctuation)."""
    other = [c for c in text if ord(c) > 127]
    cjk = sum(1 for c in other if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
              or "\uff00" <= c <= "\uffef")  # fmt: skip
    return bool(other) and cjk * 2 >= len(other)


def _decodes(data: bytes, encoding: str, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _decodes_tail(data: bytes, encoding: str) -> bool:
    """Decode from the first line start so a multi-byte character cut at the seek is no error."""
    if not data:
        return True
    cut = data.find(b"\n")
    return _decodes(data[cut + 1 :] if cut >= 0 else data, encoding, final=True)


def _is_blank(row) -> bool:
    return all(v is None or str(v).strip() == "" for v in row)


def _filled(row) -> int:
    return sum(1 for v in row if v is not None and str(v).strip() != "")


def _is_number(v) -> bool:
    if isinstance(v, int | float):
        return True
    try:
        float(str(v).replace(",", ""))
    except ValueError:
        return False
    return True


def find_header(rows: list[list]) -> int:
    """Index of the header among the first rows of a sheet: title and blank rows are skipped.

    The header is the first row that fills at least 60% of the widest row seen and is mostly
    text; a lone title cell ("2024 sales report") or a blank row is not.
    """
    widths = [_filled(r) for r in rows]
    widest = max(widths, default=0)
    if widest == 0:
        return 0
    need = 1 if widest == 1 else max(2, int(0.6 * widest + 0.999))
    for i, row in enumerate(rows):
        cells = [v for v in row if v is not None and str(v).strip() != ""]
        if len(cells) >= need and sum(not _is_number(v) for v in cells) * 2 >= len(cells):
            return i
    return next(i for i, w in enumerate(widths) if w)


def _names(header: list, width: int) -> tuple[str, ...]:
    """Header names: stripped, empty ones named column_N, repeats suffixed .2, .3 ..."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i in range(width):
        raw = header[i] if i < len(header) else None
        name = _CONTROL.sub(" ", str(raw).lstrip("\ufeff")).strip() if raw is not None else ""
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return tuple(out)


def _sniff_delimiter(text: str, suffix: str) -> tuple[str, bool]:
    """The delimiter that splits the sample into the most rows of one consistent width (> 1),
    and whether any did (else the suffix's default)."""
    best, best_score = ("\t" if suffix in (".tsv", ".tab") else ","), 0
    for delim in DELIMITERS:
        rows = [r for r in _csv_rows(text, delim) if not _is_blank(r)]
        widths = [len(r) for r in rows]
        if not widths:
            continue
        modal = max(set(widths), key=widths.count)
        if modal < 2:
            continue
        score = widths.count(modal) * 1000 + modal
        if score > best_score:
            best, best_score = delim, score
    return best, best_score > 0


def _csv_rows(text: str, delim: str) -> list[list[str]]:
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample ends mid-line
    rows = []
    try:
        for row in csv.reader(
            io.StringIO("".join(lines), newline=""), delimiter=delim, quotechar='"'
        ):
            rows.append(row)
            if len(rows) >= _SAMPLE_ROWS:
                break
    except csv.Error:
        pass
    return rows


def _lines(text: str, *, complete: bool) -> list[str]:
    """Physical lines (ended by \\r\\n, \\n or \\r); a last line cut by the sample is dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "" or not complete:
        lines.pop()
    return lines


def _sniff_whitespace(lines: list[str]) -> tuple[int, list[list[str]]] | None:
    """(0-based line of the header, rows from the header on) when the lines are columns aligned
    with blanks, else None.

    The header is the first line splitting into the commonest width (> 1); lines above it are
    titles. From the header on, 80% of the non-blank lines must split into that width and half
    of them must show padding (a leading blank, two blanks in a row or a tab).
    """
    found = [(i, _BLANKS.split(s)) for i, line in enumerate(lines) if (s := line.strip(" \t\f\v"))]
    found = found[:_SAMPLE_ROWS]
    widths = [len(r) for _, r in found]
    if not widths:
        return None
    modal = max(sorted(set(widths)), key=widths.count)
    if modal < 2:
        return None
    first = widths.index(modal)
    body = found[first:]
    same = sum(len(r) == modal for _, r in body)
    padded = sum(_PADDED.search(lines[i]) is not None for i, _ in body)
    if same < 0.8 * len(body) or padded * 2 < len(body):
        return None
    return body[0][0], [r for _, r in body]


def _sample_text(path: Path, encoding: str, compression: str | None) -> tuple[str, bool]:
    """The decoded start of the file (bad bytes as U+FFFD), and whether it is the whole file."""
    with _open_bytes(path, compression) as (fh, _):
        raw = _read(fh, _SAMPLE_BYTES + 1, path)
    complete = len(raw) <= _SAMPLE_BYTES
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(
        raw[:_SAMPLE_BYTES], final=complete
    )
    # Some decoders (UTF-7) can yield lone surrogates; they cannot be printed or stored.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text.lstrip("\ufeff"), complete


def _sniff_csv(path: Path) -> SourceInfo:
    compression = _compression(path)
    encoding = detect_encoding(path)
    text, complete = _sample_text(path, encoding, compression)
    if not text.strip():
        raise DataError("the file is empty", file=path.name)
    delim, consistent = _sniff_delimiter(text, _text_suffix(path))
    aligned = None if consistent else _sniff_whitespace(_lines(text, complete=complete))
    if aligned is not None:
        line, rows = aligned
        width = len(rows[0])
        sample = tuple(tuple((r + [None] * width)[:width]) for r in rows[1:])
        return SourceInfo(path, "csv", _names(rows[0], width), ("VARCHAR",) * width,
                          header_row=line + 1, encoding=encoding, delimiter="\t",
                          layout="whitespace", compression=compression, sample=sample)  # fmt: skip
    # Physical line of each record start, so title rows and blank lines count as the file does.
    rows, starts = [], []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"')
    line = 1
    with contextlib.suppress(csv.Error):
        for row in reader:
            starts.append(line)
            rows.append(row)
            line = reader.line_num + 1
            if len(rows) >= _SAMPLE_ROWS:
                break
    if not rows or all(_is_blank(r) for r in rows):
        raise DataError("no row of the file can be read as text columns", file=path.name)
    h = find_header(rows)
    width = max(len(rows[h]), 1)
    data = [r for r in rows[h + 1 :] if not _is_blank(r)]
    columns = _names(rows[h], width)
    sample = tuple(tuple((r + [None] * width)[:width]) for r in data)
    return SourceInfo(path, "csv", columns, ("VARCHAR",) * width, header_row=starts[h],
                      encoding=encoding, delimiter=delim, compression=compression,
                      sample=sample)  # fmt: skip


def _cell_text(v) -> str | None:
    """A workbook cell as the text a CSV export would show (dates ISO, whole floats as ints)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v.total_seconds())
    return str(v)


def _check_zip(path: Path) -> None:
    """Refuse workbooks that expand far beyond their size (zip bombs) before opening them.

    Real XLSX parts compress 5-50x; a part expanding more than 200x to over 100 MB, or a
    workbook expanding to more than 20x the file size limit, is refused unread.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"the workbook cannot be read ({e})", file=path.name) from e
    total = sum(i.file_size for i in infos)
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > _BOMB_PART_BYTES and ratio > _BOMB_RATIO:
            raise DataError(
                f"the workbook is refused: part {i.filename} is compressed {ratio:,.0f}x and "
                f"would expand to {i.file_size / 2**20:,.0f} MB",
                file=path.name,
            )
    if total > 20 * max_file_mb() * 2**20:
        raise DataError(
            f"the workbook is refused: compressed parts would expand to {total / 2**20:,.0f} MB",
            file=path.name,
        )


def _open_workbook(path: Path):
    from openpyxl import load_workbook

    _check_zip(path)
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise DataError(f"the workbook cannot be read ({e})", file=path.name) from e


def _pick_sheet(wb, path: Path, sheet: str | None):
    if sheet is None:
        return wb.worksheets[0]
    if sheet not in wb.sheetnames:
        raise UsageError(f"{path.name} has no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}")
    return wb[sheet]


def _sniff_xlsx(path: Path, sheet: str | None) -> SourceInfo:
    wb = _open_workbook(path)
    try:
        ws = _pick_sheet(wb, path, sheet)
        ws.reset_dimensions()  # exports often carry wrong <dimension> tags
        rows, numbers = [], []
        for row in ws.iter_rows(values_only=False):
            cells = list(row)
            numbers.append(next((c.row for c in cells if getattr(c, "row", None)), len(rows) + 1))
            rows.append([_cell_text(c.value) for c in cells])
            if len(rows) >= _SAMPLE_ROWS:
                break
        if not rows or all(_is_blank(r) for r in rows):
            raise DataError(f"sheet {ws.title!r} is empty", file=path.name)
        h = find_header(rows)
        width = max(len(rows[h]) - _trailing_blanks(rows[h]), 1)
        columns = _names(rows[h], width)
        data = [r for r in rows[h + 1 :] if not _is_blank(r)]
        sample = tuple(tuple((r + [None] * width)[:width]) for r in data)
        return SourceInfo(path, "xlsx", columns, ("VARCHAR",) * width, header_row=numbers[h],
                          sheet=ws.title, sheets=tuple(wb.sheetnames), sample=sample)  # fmt: skip
    finally:
        wb.close()


def _trailing_blanks(row) -> int:
    n = 0
    for v in reversed(row):
        if v is not None and str(v).strip() != "":
            break
        n += 1
    return n


def _sniff_parquet(path: Path) -> SourceInfo:
    con = duckdb.connect(":memory:")
    try:
        rel = con.execute("select * from read_parquet($p) limit 20", {"p": str(path)})
        cols = [d[0] for d in rel.description]
        sample = tuple(tuple(_cell_text(v) for v in r) for r in rel.fetchall())
        types = con.execute(
            "select column_type from (describe select * from read_parquet($p))", {"p": str(path)}
        ).fetchall()
    except duckdb.Error as e:
        raise DataError(f"the Parquet file cannot be read ({first_line(e)})", file=path.name) from e
    finally:
        con.close()
    return SourceInfo(path, "parquet", tuple(cols), tuple(t[0] for t in types), header_row=0,
                      sample=sample)  # fmt: skip


def max_file_mb() -> float:
    """Largest input file accepted, in MB: ``CLM_MAX_FILE_MB``, default 4096."""
    try:
        return float(os.environ.get("CLM_MAX_FILE_MB", _DEFAULT_MAX_MB))
    except ValueError:
        return _DEFAULT_MAX_MB


def sniff(path: str | os.PathLike, *, sheet: str | None = None) -> SourceInfo:
    """Look at the start of ``path`` and say how to read it. Raises UsageError/DataError."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"File not found: {path}")
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_file_mb():
        raise UsageError(
            f"{path.name} is {size_mb:,.0f} MB, over the {max_file_mb():,.0f} MB limit "
            "(set CLM_MAX_FILE_MB to raise it)"
        )
    fmt = detect_format(path)
    if fmt == "xlsx":
        return _sniff_xlsx(path, sheet)
    if fmt == "parquet":
        return _sniff_parquet(path)
    return _sniff_csv(path)


def transcode(src: Path, dst: Path, encoding: str, progress: Progress | None = None) -> None:
    """Copy ``src`` to ``dst`` as UTF-8, streaming 4 MB chunks (bad bytes become U+FFFD)."""
    info = SourceInfo(Path(src), "csv", (), (), encoding=encoding)
    _to_utf8(info, Path(dst), progress)


def _to_utf8(info: SourceInfo, dst: Path, progress: Progress | None = None) -> None:
    """Write the text DuckDB reads to ``dst``, streaming 4 MB chunks: decompressed, UTF-8 (bad
    bytes become U+FFFD) and, for blank-aligned text, tab-separated.

    Decompressed data over the size limit is refused (a small gzip can expand a thousandfold).
    """
    path = info.path
    total = max(path.stat().st_size, 1)
    limit = max_file_mb() * 2**20 if info.compression else float("inf")
    label = {"whitespace": "Converting the aligned columns"}.get(
        info.layout,
        "Decompressing the file" if info.compression else "Converting the text encoding",
    )
    with _open_bytes(path, info.compression) as (fh, raw), open(dst, "wb") as fout:

        def chunks() -> Iterator[bytes]:
            done = 0
            while chunk := _read(fh, _CHUNK, path):
                done += len(chunk)
                if done > limit:
                    raise UsageError(
                        f"{path.name} expands to more than {max_file_mb():,.0f} MB, over the "
                        "limit (set CLM_MAX_FILE_MB to raise it)"
                    )
                yield chunk
                if progress:
                    progress(min(raw.tell() / total, 1.0), label)

        text = _decoded(chunks(), info.encoding or "utf-8")
        if info.layout == "whitespace":
            text = _aligned_to_tsv(text, path)
        for piece in text:
            fout.write(piece.encode("utf-8", errors="replace"))


def _decoded(chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for chunk in chunks:
        yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)


def _aligned_to_tsv(pieces: Iterable[str], path: Path) -> Iterator[str]:
    """Blank-aligned text as tab-separated text, one ``\\n``-ended line per file line (ended by
    \\r\\n, \\n or \\r), so DuckDB's records and their file lines stay one to one."""
    carry = ""
    for piece in pieces:
        text = carry + piece
        keep = 1 if text.endswith("\r") else 0  # maybe the first half of \r\n
        lines = text[: len(text) - keep].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        carry = lines.pop() + text[len(text) - keep :]
        if len(carry) > _MAX_LINE:
            raise DataError(f"a line is longer than {_MAX_LINE:,} characters", file=path.name)
        if lines:
            yield _tsv("\n".join(lines) + "\n")
    if carry:
        yield _tsv(carry.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n")


def _tsv(lines: str) -> str:
    """``\\n``-separated blank-aligned lines as tab-separated ones; a value holding ``"`` is
    quoted (RFC 4180) so DuckDB and the csv module read it back as written."""
    text = _BLANKS.sub("\t", _EDGE_BLANKS.sub("", lines))
    if '"' not in text:
        return text
    return "\n".join("\t".join(map(_quote, line.split("\t"))) for line in text.split("\n"))


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if '"' in value else value


def _xlsx_to_parquet(info: SourceInfo, dst: Path, progress: Progress | None = None) -> None:
    """Stream the sheet rows below the header into Parquet: _row (sheet row) and c0..cN text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    width = len(info.columns)
    schema = pa.schema([("_row", pa.int64())] + [(f"c{i}", pa.string()) for i in range(width)])
    wb = _open_workbook(info.path)
    try:
        ws = _pick_sheet(wb, info.path, info.sheet)
        total = ws.max_row or 0  # from the <dimension> tag: good enough for progress
        ws.reset_dimensions()
        batch: list[list] = [[] for _ in range(width + 1)]
        with pq.ParquetWriter(dst, schema) as writer:
            for n, row in enumerate(ws.iter_rows(min_row=info.header_row + 1, values_only=True)):
                if _is_blank(row):
                    continue
                batch[0].append(info.header_row + 1 + n)
                for i in range(width):
                    batch[i + 1].append(_cell_text(row[i]) if i < len(row) else None)
                if len(batch[0]) >= 50_000:
                    writer.write_table(pa.table(batch, schema=schema))
                    batch = [[] for _ in range(width + 1)]
                    if progress:
                        progress(n / total if total else 0.0, "Reading the sheet")
            writer.write_table(pa.table(batch, schema=schema))
    finally:
        wb.close()


@contextlib.contextmanager
def open_source(info: SourceInfo, *, progress: Progress | None = None) -> Iterator[Source]:
    """The file as an SQL relation with columns c0..cN; temporary files are removed on exit."""
    work = Path(tempfile.mkdtemp(prefix="clm-ingest-"))
    try:
        n = len(info.columns)
        if info.format == "parquet":
            cols = ", ".join(f"{quote_ident(c)} as c{i}" for i, c in enumerate(info.columns))
            relation = (f"(select file_row_number + 1 as _row, {cols} "
                        f"from read_parquet($src_path, file_row_number = true))")  # fmt: skip
            yield Source(relation, {"src_path": str(info.path)}, "_row")
        elif info.format == "xlsx":
            pq_path = work / "sheet.parquet"
            _xlsx_to_parquet(info, pq_path, progress)
            relation = "read_parquet($src_path)"
            yield Source(relation, {"src_path": str(pq_path)}, "_row")
        else:
            csv_path = info.path
            plain = info.layout == "delimited" and info.compression is None
            if not plain or info.encoding not in ("utf-8", "utf-8-sig", "ascii"):
                csv_path = work / "utf8.csv"
                _to_utf8(info, csv_path, progress)
            # c0..cN are our names; the struct is built from them only (no file text in SQL).
            struct = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"
            relation = (
                "read_csv($src_path, header = false, skip = $src_skip, delim = $src_delim, "
                f"quote = '\"', escape = '\"', columns = {struct}, auto_detect = false, "
                "store_rejects = true, rejects_table = '_clm_rejects', "
                "rejects_scan = '_clm_reject_scans', max_line_size = 10000000)"
            )
            params = {"src_path": str(csv_path), "src_skip": info.header_row,
                      "src_delim": info.delimiter or ","}  # fmt: skip
            yield Source(relation, params, None, csv_path=csv_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
