"""The ``annoconv`` command: convert, info, validate, formats.

Exit status: 0 on success, 1 on a data error (one located line on stderr, no traceback),
2 on a usage error. Stdout carries only what was asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, convert, load
from ._io import write_json
from .errors import AnnoconvError, OptionError
from .registry import available_formats, detect_format, get_format
from .report import ConversionReport


def _format_list() -> str:
    lines = []
    for spec in available_formats():
        rw = ("r" if spec.read else "-") + ("w" if spec.write else "-")
        lines.append(f"  {spec.name:<14} {rw}  {spec.description}")
    return "\n".join(lines)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _options(pairs: Sequence[str] | None, parser: argparse.ArgumentParser) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"option {pair!r} must look like NAME=VALUE")
        out[key.replace("-", "_")] = _parse_value(value)
    return out


def _check_writable(path: Path, parser: argparse.ArgumentParser) -> None:
    """A usage error unless ``path`` can be written (its nearest existing folder is writable)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        parser.error(f"--report {path}: cannot write there")


def build_parser() -> argparse.ArgumentParser:
    epilog = (
        "formats (r = read, w = write):\n" + _format_list() + "\n\n"
        "examples:\n"
        "  annoconv convert export.json out/instances.json --to coco\n"
        "  annoconv convert instances.json hasty.json --to hasty --from coco\n"
        "  annoconv info export.json"
    )
    parser = argparse.ArgumentParser(
        prog="annoconv",
        description="Convert computer-vision annotations between formats, exactly.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"annoconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("convert", help="convert SRC to format --to at DST",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)
    p.add_argument("src", help="input file or folder")
    p.add_argument("dst", help="output file (or folder, for folder formats)")
    p.add_argument("--to", required=True, metavar="FORMAT", help="target format")
    p.add_argument("--from", dest="from_", metavar="FORMAT", help="source format (detected if omitted)")
    p.add_argument("--mask-as", choices=("rle", "polygon"), help="how masks are written where the target offers both")
    p.add_argument("--report", metavar="FILE", help="also write the conversion report as JSON")
    p.add_argument("-r", "--read-option", action="append", metavar="NAME=VALUE", help="reader option (repeatable)")
    p.add_argument("-w", "--write-option", action="append", metavar="NAME=VALUE", help="writer option (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")

    p = sub.add_parser("info", help="print what a dataset holds")
    p.add_argument("src")
    p.add_argument("--from", dest="from_", metavar="FORMAT")
    p.add_argument("-r", "--read-option", action="append", metavar="NAME=VALUE", help="reader option (repeatable)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")

    p = sub.add_parser("validate", help="check that a file reads without error (and matches its schema)")
    p.add_argument("src")
    p.add_argument("--from", dest="from_", metavar="FORMAT")
    p.add_argument("-r", "--read-option", action="append", metavar="NAME=VALUE", help="reader option (repeatable)")

    sub.add_parser("formats", help="list the registered formats")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "formats":
            for spec in available_formats():
                rw = ("read" if spec.read else "") + ("/" if spec.read and spec.write else "") + ("write" if spec.write else "")
                print(f"{spec.name}\t{rw}\t{', '.join(spec.extensions)}\t{spec.description}")
                for k, v in {**spec.read_options, **spec.write_options}.items():
                    print(f"\t  {k}: {v}")
            return 0
        if args.command == "info":
            name = args.from_ or detect_format(args.src)
            ds = load(args.src, name, **_options(args.read_option, parser))
            stats = ds.stats()
            if args.json:
                print(json.dumps({"format": name, **stats}, indent=2))
            else:
                print(f"{args.src}: {name}")
                print(f"  samples: {stats['samples']}, annotations: {stats['annotations']}, "
                      f"categories: {stats['categories']}")
                for key in ("per_shape", "per_status", "per_category"):
                    if stats[key]:
                        items = ", ".join(f"{k}: {v}" for k, v in sorted(stats[key].items()))
                        print(f"  {key.replace('_', ' ')}: {items}")
            return 0
        if args.command == "validate":
            name = args.from_ or detect_format(args.src)
            spec = get_format(name)
            opts = {"validate": True} if "validate" in spec.read_options else {}
            ds = load(args.src, name, **{**opts, **_options(args.read_option, parser)})  # -r wins
            stats = ds.stats()
            print(f"{args.src}: valid {name} ({stats['samples']} samples, {stats['annotations']} annotations)")
            return 0
        if args.command == "convert":
            write_opts = _options(args.write_option, parser)
            if args.report:  # found out before converting, not after DST is written
                _check_writable(Path(args.report), parser)
            if args.mask_as:
                write_opts["mask_as"] = args.mask_as
            report: ConversionReport = convert(
                args.src, args.dst, args.to, from_=args.from_,
                read_options=_options(args.read_option, parser), **write_opts,
            )
            if args.report:
                write_json(Path(args.report), report.to_dict(), indent=True)
            if not args.quiet:
                print(report)
            return 0
    except OptionError as e:  # an option the reader or writer does not take
        print(f"annoconv: usage error: {e}", file=sys.stderr)
        return 2
    except AnnoconvError as e:
        print(f"annoconv: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: still one line (ANNOCONV_DEBUG=1 shows the traceback)
        if os.environ.get("ANNOCONV_DEBUG"):
            raise
        print(f"annoconv: unexpected error (a bug in annoconv, please report it; "
              f"ANNOCONV_DEBUG=1 shows where): {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
