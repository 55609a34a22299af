"""File I/O shared by every format: atomic writes, JSON with located errors, PNG helpers.

Writers never write in place: :func:`atomic_write` writes a temporary file in the target's
own folder and ``os.replace`` s it over the target when (and only when) writing succeeded,
so a failed conversion leaves no partial file and an existing target untouched.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np
import numpy.typing as npt

from .errors import ParseError, WriteError
from .rle import MAX_PIXELS  # the largest image read_png opens, as the largest mask

try:  # orjson writes COCO-sized JSON several times faster than json
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; json is the fallback
    _orjson = None

_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = [
    "atomic_folder",
    "atomic_write",
    "dump_json_bytes",
    "load_json_bytes",
    "read_json",
    "read_png",
    "validate_schema",
    "write_json",
    "write_png",
]


def _missing_parents(folder: Path) -> list[Path]:
    """The folders that a ``mkdir(parents=True)`` of ``folder`` would create, deepest first."""
    out = []
    p = folder
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders this write created (deepest first), if they are still empty."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def atomic_write(path: str | Path, *, binary: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically,
    on any exception it is removed and ``path`` is untouched.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "a.txt") as f:
    ...     _ = f.write(b"hello")
    >>> (d / "a.txt").read_bytes()
    b'hello'
    """
    target = Path(path)
    folder = target.parent
    created = _missing_parents(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise WriteError(f"{target}: cannot write: {e.strerror or e}") from e
    ok = False
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            yield f
        # mkstemp makes the file private (0600): give it the mode a plain open() would
        # (or the mode of the file it replaces)
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        ok = True
    except OSError as e:
        if isinstance(e, WriteError):
            raise
        raise WriteError(f"{target}: cannot write: {e.strerror or e}") from e
    finally:
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _remove_empty(created)


@contextlib.contextmanager
def atomic_folder(path: str | Path, *, inside: bool = False) -> Iterator[Path]:
    """Build a multi-file output in a temporary folder; on success its files are moved into
    ``path`` (created if needed; files of the same name are replaced, others left alone), on
    any exception the temporary folder and any folder this call created are removed and
    ``path`` is untouched. The temporary folder is beside ``path``, or with ``inside=True``
    a hidden one inside it (then only ``path`` itself needs to be writable).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with atomic_folder(d) as tmp:
    ...     _ = (tmp / "a.txt").write_text("x")
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']
    """
    import shutil

    target = Path(path)
    home = target if inside else target.parent
    created = _missing_parents(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
        prefix = ".annoconv-" if inside else f".{target.name}."
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=home))
    except OSError as e:
        _remove_empty(created)
        raise WriteError(f"{target}: cannot write: {e.strerror or e}") from e
    ok = False
    try:
        yield tmp
        _move_all(tmp, target)
        ok = True
    except OSError as e:
        if isinstance(e, WriteError):
            raise
        raise WriteError(f"{target}: cannot write: {e.strerror or e}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            _remove_empty(created)


def _move_all(tmp: Path, target: Path) -> None:
    """Move every file of ``tmp`` to the same place under ``target``, all or nothing: a
    failure part way (a file where a folder must go, a full disk) puts back the files it
    replaced and removes what it added, folders included."""
    files = [p for p in sorted(tmp.rglob("*")) if not p.is_dir()]
    old = tmp / ".annoconv-replaced"  # the replaced files, on the target's file system
    done: list[tuple[Path, Path | None]] = []  # (placed file, the file it replaced)
    made: list[Path] = []  # folders created here, in creation order
    try:
        for src in files:
            dst = target / src.relative_to(tmp)
            missing = _missing_parents(dst.parent)
            dst.parent.mkdir(parents=True, exist_ok=True)
            made += reversed(missing)
            backup = None
            if dst.is_dir() and not dst.is_symlink():
                raise IsADirectoryError(21, "a folder is in the way", str(dst))
            if os.path.lexists(dst):
                old.mkdir(exist_ok=True)
                backup = old / str(len(done))
                os.replace(dst, backup)
            done.append((dst, backup))
            os.replace(src, dst)
    except BaseException:
        for dst, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, dst)
                elif os.path.lexists(dst):
                    dst.unlink()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def load_json_bytes(data: bytes, file: str | Path | None = None) -> Any:
    """Parse JSON, turning syntax and encoding errors into a located :class:`ParseError`.

    msgspec parses (as fast as orjson, and it keeps integers beyond 64 bits exact, where
    orjson turns them into floats); anything it refuses is parsed again with json, which
    accepts a BOM and lone surrogate escapes and otherwise gives the line and column.

    >>> load_json_bytes(b'{"id": 123456789012345678901234567890}')
    {'id': 123456789012345678901234567890}
    """
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        pass
    except RecursionError:
        raise ParseError(file, None, "JSON nested too deeply to read") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(
            file, None, f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _ConstantError as e:
        raise ParseError(file, None, f"{e} is not valid JSON (no NaN or Infinity)") from None
    except OverflowError as e:
        raise ParseError(file, None, str(e)) from None
    except RecursionError:
        raise ParseError(file, None, "JSON nested too deeply to read") from None
    except json.JSONDecodeError as e:
        raise ParseError(
            file, None, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None


class _ConstantError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _ConstantError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise OverflowError(f"number {text[:40]} is too large for a double")
    return value


def read_json(path: str | Path) -> Any:
    """Read and parse a JSON file; errors name the file (and line/column)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ParseError(p, None, "file not found") from None
    except IsADirectoryError:
        raise ParseError(p, None, "expected a JSON file, got a folder") from None
    except OSError as e:
        raise ParseError(p, None, f"cannot read: {e.strerror or e}") from None
    return load_json_bytes(data, p)


def validate_schema(doc: Any, name: str, file: str | Path | None, *, prefix: str = "") -> None:
    """Check a parsed document against ``schemas/<name>`` (shipped inside the package, or
    the repository's folder when run from a checkout); the best-matching error becomes a
    located ParseError whose message starts with ``prefix``."""
    import jsonschema

    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas" / name, here.parent / "schemas" / name):
        if candidate.is_file():
            break
    else:  # pragma: no cover - both the wheel and the checkout carry schemas/
        raise FileNotFoundError(f"schema {name} not found")
    validator = jsonschema.Draft202012Validator(json.loads(candidate.read_text()))
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        from .errors import json_pointer

        raise ParseError(file, json_pointer(*error.absolute_path), prefix + error.message)


def _default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


def dump_json_bytes(obj: Any, *, indent: bool = False) -> bytes:
    """Serialise to UTF-8 JSON (orjson, or json for integers beyond 64 bits).

    Readers never produce NaN or infinities and the model refuses them in every numeric
    field; a non-finite float placed by hand in a free-form dict (``extra``, ``attributes``)
    is written as ``null``, as orjson does."""
    if _orjson is not None:
        try:
            opt = _orjson.OPT_INDENT_2 if indent else 0
            return _orjson.dumps(obj, default=_default, option=opt)
        except TypeError:
            pass  # integers beyond 64 bits, lone surrogates: json handles them
    obj = _finite(obj)
    opts: dict[str, Any] = {"default": _default, "allow_nan": False, "indent": 2 if indent else None,
                            "separators": None if indent else (",", ":")}
    try:
        text = json.dumps(obj, ensure_ascii=False, **opts)
    except RecursionError:
        raise WriteError("cannot write JSON nested this deeply") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (read from a "\\ud800" escape): escaped
        return json.dumps(obj, ensure_ascii=True, **opts).encode("ascii")


def _finite(obj: Any) -> Any:
    """``obj`` with non-finite floats as None (as orjson writes them), for json."""
    if isinstance(obj, float):
        return obj if obj - obj == 0 else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | Path, obj: Any, *, indent: bool = False) -> None:
    """Write JSON atomically."""
    data = dump_json_bytes(obj, indent=indent)
    with atomic_write(path) as f:
        f.write(data)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path) as f:
        f.write(data)


def rgb_to_ids(rgb: npt.NDArray[Any]) -> npt.NDArray[np.uint32]:
    """Ids of an id image, ``R + 256 G + 65536 B`` (COCO panoptic, Segments bitmaps, Scale
    extended indexed masks), from an (..., 3) or (..., 4) uint8 array; alpha is ignored.

    >>> rgb_to_ids(np.array([[1, 2, 3], [255, 255, 255]], np.uint8)).tolist()
    [197121, 16777215]
    """
    c = rgb[..., :3].astype(np.uint32)
    return c[..., 0] | (c[..., 1] << 8) | (c[..., 2] << 16)


def ids_to_rgb(ids: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """The (..., 3) uint8 RGB image of ids below 2^24 (the inverse of :func:`rgb_to_ids`).

    >>> ids_to_rgb(np.array([197121])).tolist()
    [[1, 2, 3]]
    """
    i = ids.astype(np.uint32)
    return np.stack([i & 0xFF, (i >> 8) & 0xFF, (i >> 16) & 0xFF], axis=-1).astype(np.uint8)


def read_png(path: str | Path) -> tuple[npt.NDArray[Any], str, list[int] | None]:
    """A PNG (or any image Pillow reads) as ``(array, mode, palette)``; the palette is a
    flat RGB list for mode ``"P"`` images, else None. Errors are located ParseErrors."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(8)
            if head == b"\x89PNG\r\n\x1a\n":
                f.seek(max(8, os.fstat(f.fileno()).st_size - _PNG_TAIL))
                if _IEND not in f.read():  # Pillow reads a PNG cut after its pixels
                    raise ParseError(p, None, "not a readable image: truncated PNG (no IEND chunk at its end)")
        try:
            return _open_image(p)
        except Image.DecompressionBombError:
            # Pillow's guard (about 179 million pixels) is lower than the masks annoconv
            # itself writes (drone orthomosaics); raise it to the mask bound for this file
            with _PIL_LIMIT:
                limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = MAX_PIXELS
                try:
                    return _open_image(p)
                finally:
                    Image.MAX_IMAGE_PIXELS = limit
    except FileNotFoundError:
        raise ParseError(p, None, "file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ParseError(p, None, f"not a readable image: {e}") from None


_PIL_LIMIT = threading.Lock()
_PNG_TAIL = 1 << 16  # IEND is looked for in the last 64 KiB (data after it is tolerated)
_IEND = b"IEND\xaeB`\x82"  # the chunk type and its CRC: the same in every PNG


def _open_image(p: Path) -> tuple[npt.NDArray[Any], str, list[int] | None]:
    from PIL import Image

    with Image.open(p) as im:
        im.load()
        mode = im.mode
        palette = im.getpalette() if mode == "P" else None
        return np.asarray(im), mode, palette


def write_png(
    path: str | Path,
    array: npt.NDArray[Any],
    *,
    palette: list[int] | None = None,
    compress_level: int = 6,
) -> None:
    """Write an array as PNG atomically: (h, w) uint8 as grayscale ("L"), or as a palette
    image ("P") when ``palette`` (flat RGB list) is given; (h, w) uint16 as 16-bit
    grayscale; (h, w, 3) / (h, w, 4) uint8 as RGB / RGBA."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(array))
    if palette is not None:
        if im.mode != "L":
            raise ValueError(f"a palette needs a (h, w) uint8 array, got {array.dtype} {array.shape}")
        im.putpalette(palette)  # "L" becomes "P" with the same indices
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=compress_level)
    write_bytes(path, buf.getvalue())


def head(path: str | Path, size: int = 65536) -> bytes:
    """The first ``size`` bytes of a file (b"" for folders or unreadable files)."""
    p = Path(path)
    if not p.is_file():
        return b""
    try:
        with p.open("rb") as f:
            return f.read(size)
    except OSError:
        return b""


def map_parallel(fn: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """``[fn(x) for x in items]``, over ``workers`` processes when workers > 1."""
    if workers <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items, chunksize=max(1, len(items) // (workers * 8))))
