"""COCO load + save: annoconv against the plain floors (json, orjson) and pycocotools.

    python benchmarks/bench_coco.py                    # M: 10k images, ~100k annotations
    python benchmarks/bench_coco.py --sizes M,L        # L: 50k images, ~500k annotations

The file is generated (seeded, ``gen_coco.py``: polygons of 1-3 parts with 12-36 vertices,
~1% crowd RLE, COCO's 80 non-contiguous category ids) and cached under ``--cache``. Each
approach runs in a fresh subprocess so that its peak RSS (``ru_maxrss``) is its own; times
are wall-clock medians of ``--repeat`` runs. Ratios are against the orjson load + dump of the
same file (the usual floor, with the garbage collector on, as users run it).

Approaches:
- ``json``: stdlib ``json.loads`` + ``json.dumps`` (``--stdlib`` to include; slow)
- ``orjson``: ``orjson.loads`` + ``orjson.dumps``; ``orjson-nogc``: the same with gc disabled
- ``pycocotools``: ``COCO(path)`` (load and index only; it has no writer)
- ``annoconv``: ``annoconv.load`` + ``annoconv.save(..., "coco")`` (samples as read: the
  decoded records are written back)
- ``annoconv-model``: load, build every Sample/Annotation model object, then save through the
  generic writer (what a conversion that edits the data pays)
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"S": 1_000, "M": 10_000, "L": 50_000}


def child(approach: str, path: str, out: str) -> dict:
    """Run one approach in this (fresh) process; imports happen before the clock starts."""
    import gc

    import orjson

    if approach == "count":
        return {"annotations": len(orjson.loads(Path(path).read_bytes())["annotations"])}
    if approach == "compare":
        return {"equal": orjson.loads(Path(path).read_bytes()) == orjson.loads(Path(out).read_bytes())}
    if approach == "pycocotools":
        import contextlib
        import io

        from pycocotools.coco import COCO
    if approach.startswith("annoconv"):
        import dataclasses

        import annoconv

        annoconv.get_format("coco")  # imports the format modules (import time is not timed)
    t0 = time.perf_counter()
    load = float("nan")
    if approach == "json":
        d = json.loads(Path(path).read_text())
        Path(out).write_text(json.dumps(d))
    elif approach in ("orjson", "orjson-nogc"):
        if approach == "orjson-nogc":
            gc.disable()
        d = orjson.loads(Path(path).read_bytes())
        Path(out).write_bytes(orjson.dumps(d))
    elif approach == "pycocotools":
        with contextlib.redirect_stdout(io.StringIO()):
            COCO(path)
    elif approach == "annoconv":
        ds = annoconv.load(path, "coco")
        load = time.perf_counter() - t0
        annoconv.save(ds, out, "coco")
    elif approach == "annoconv-model":
        ds = annoconv.load(path, "coco")
        ds = dataclasses.replace(ds, samples=tuple(ds.samples))
        load = time.perf_counter() - t0
        annoconv.save(ds, out, "coco")
    else:
        raise SystemExit(f"unknown approach {approach}")
    return {"time": time.perf_counter() - t0, "load": load, "rss": _rss()}


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)


def spawn(approach: str, path: Path, out: Path) -> dict:
    # every measurement in a fresh process; this parent stays small, because on Linux a
    # child's ru_maxrss starts from the RSS of the process it was forked from
    proc = subprocess.run([sys.executable, __file__, "--child", approach, str(path), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(approach: str, path: Path, repeat: int) -> dict:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        for _ in range(repeat):
            results.append(spawn(approach, path, out))
        if approach.startswith("annoconv") and not spawn("compare", path, out)["equal"]:
            raise SystemExit(f"{approach}: the written file differs from the input")
    return {
        "time": statistics.median(r["time"] for r in results),
        "load": statistics.median(r["load"] for r in results),
        "rss": max(r["rss"] for r in results),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="M", help="comma-separated: S, M, L")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stdlib", action="store_true", help="include stdlib json (slow)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "annoconv-bench")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    approaches = ["orjson", "orjson-nogc", "pycocotools", "annoconv", "annoconv-model"]
    if args.stdlib:
        approaches.insert(0, "json")
    print(f"annoconv {version('annoconv')}, msgspec {version('msgspec')}, orjson {version('orjson')}, "
          f"pycocotools {version('pycocotools')}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    times: dict[str, float] = {}
    for size in args.sizes.split(","):
        args.cache.mkdir(parents=True, exist_ok=True)
        path = args.cache / f"coco_{size}.json"
        if not path.exists():
            subprocess.run([sys.executable, str(HERE / "gen_coco.py"), str(path),
                            "--images", str(SIZES[size])], check=True)
        mb = path.stat().st_size / 2**20
        n_ann = spawn("count", path, path)["annotations"]
        print(f"\n{size}: {path.name}, {mb:.0f} MiB, {n_ann} annotations")
        print(f"{'approach':<16} {'load+save s':>12} {'load s':>8} {'vs orjson':>10} {'peak RSS MiB':>13} {'x file':>7}")
        res = {a: run(a, path, args.repeat) for a in approaches}
        floor = res["orjson"]["time"]
        for a, r in res.items():
            load = f"{r['load']:.2f}" if r["load"] == r["load"] else "-"
            print(f"{a:<16} {r['time']:>12.2f} {load:>8} {r['time'] / floor:>10.2f} {r['rss']:>13.0f} {r['rss'] / mb:>7.1f}")
        times[size] = res["annoconv"]["time"]
    if "M" in times and "L" in times:
        print(f"\nannoconv L / M time: {times['L'] / times['M']:.2f}x (target <= 5.5x)")


if __name__ == "__main__":
    main()
