"""Speed of `radgenome build` on CT-RATE-sized phantoms (512×512×300 int16, 0.7×0.7×1.5 mm).

Prints, per volume, the time of each stage (load / segment / text / link / write, means over the cases of a
one-worker build), its ratio to just loading and saving the volume (read_ct + writing it back as int16
NIfTI-gz; the goal is ≤ 2×), and the throughput (cases/min, excluding the final dataset tables) of builds
with 1 and 2 local workers and with ``--engine ray`` on a local Ray.

Phantoms take ~20–30 s each to draw, so ``--phantoms`` are drawn and copied under ``--cases`` names, each with
its own generated report matching that phantom's lesions.

    python3 benchmarks/bench_build.py [--cases 6] [--phantoms 2] [--workers 1 2] [--no-ray] [--keep DIR [--reuse]]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from radgenome.corpus.volume import read_ct
from radgenome.model import STAGES, BuildSummary
from radgenome.pipeline.build import BuildOptions, run_build
from radgenome.segmentation.io import write_nifti
from radgenome.synth.phantom import make_ctrate_sized, write_phantom_nifti
from radgenome.synth.reports import FindingSpec, generate_report, write_reports_csv

LESIONS: list[dict[str, object]] = [
    {"nodule": ("right lung lower lobe", 12.0)},
    {"effusion": "left", "female": True},
    {"nodule": ("left lung upper lobe", 9.0), "effusion": "right"},
]


def make_corpus(root: Path, n_cases: int, n_phantoms: int) -> list[Path]:
    ds = root / "dataset"
    drawn: list[tuple[Path, dict[str, object]]] = []
    for i in range(n_phantoms):
        opts = LESIONS[i % len(LESIONS)]
        t = time.perf_counter()
        ph = make_ctrate_sized(seed=i, **opts)
        path = root / "phantoms" / f"phantom_{i}.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_phantom_nifti(ph, path, orientation="LPS")
        print(f"phantom {i}: {ph.hu.shape} {opts} drawn+written in {time.perf_counter() - t:.1f}s", flush=True)
        drawn.append((path, opts))
    reports = []
    paths = []
    for i in range(n_cases):
        src, opts = drawn[i % len(drawn)]
        name = f"valid_{i + 1}_a_1.nii.gz"
        dst = ds / "valid_fixed" / f"valid_{i + 1}" / f"valid_{i + 1}_a" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        paths.append(dst)
        specs = []
        if "nodule" in opts:
            lobe, size = opts["nodule"]  # type: ignore[misc]
            specs.append(FindingSpec("lung nodule", node=str(lobe), size_mm=float(size)))
        if "effusion" in opts:
            specs.append(FindingSpec("pleural effusion", side=str(opts["effusion"])))
        reports.append(generate_report(0, index=i, volume=name, findings=specs))
    write_reports_csv(reports, ds / "radiology_text_reports" / "validation_reports.csv")
    return paths


def load_save_seconds(paths: list[Path], tmp: Path) -> float:
    """Mean time to read a volume (read_ct) and write it back as int16 NIfTI-gz."""
    times = []
    for p in paths[:3]:
        t = time.perf_counter()
        vol = read_ct(p)
        write_nifti(np.rint(vol.hu).astype(np.int16), vol.affine, tmp / f"copy_{p.name}")
        times.append(time.perf_counter() - t)
    return statistics.mean(times)


def build(root: Path, out: Path, workers: int, engine: str = "local") -> tuple[float, BuildSummary]:
    t = time.perf_counter()
    res = run_build(BuildOptions(out=out, root=root, workers=workers, engine=engine, force=True))  # type: ignore[arg-type]
    wall = time.perf_counter() - t
    if res.exit_code != 0:
        raise SystemExit(f"build failed (exit {res.exit_code}): {res.to_json()[:2000]}")
    return wall, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=6)
    ap.add_argument("--phantoms", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="Work here and keep the files (default: a temp dir).")
    ap.add_argument("--reuse", action="store_true", help="Reuse the corpus already in --keep DIR.")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_build_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.reuse and (work / "corpus" / "dataset").is_dir():
            paths = sorted((work / "corpus" / "dataset").rglob("*.nii.gz"))
            args.cases = len(paths)
        else:
            paths = make_corpus(work / "corpus", args.cases, args.phantoms)
        base = load_save_seconds(paths, work)
        print(f"\njust load + save one volume: {base:.2f} s")

        results: list[tuple[str, float, BuildSummary]] = []
        for w in args.workers:
            wall, summary = build(work / "corpus", work / f"out_w{w}", w)
            results.append((f"local, {w} worker{'s' if w > 1 else ''}", wall, summary))
        if not args.no_ray:
            try:
                import ray  # noqa: F401

                wall, summary = build(work / "corpus", work / "out_ray", max(args.workers), "ray")
                results.append((f"ray (local, {max(args.workers)} CPUs)", wall, summary))
            except ImportError:
                print("ray not installed: skipping --engine ray")

        per_stage = results[0][2].mean_seconds_per_stage
        total = sum(float(per_stage[s]) for s in STAGES)
        print(f"\nper volume ({results[0][0]}, mean over {args.cases} cases):")
        for s in STAGES:
            print(f"  {s:8s} {float(per_stage[s]):7.2f} s")
        print(f"  {'total':8s} {total:7.2f} s   = {total / base:.2f}x load+save ({base:.2f} s; goal <= 2x)")
        print("\nthroughput (cases only, then dataset tables):")
        for name, wall, summary in results:
            cases_s = summary.seconds_cases
            print(f"  {name:26s} {60.0 * args.cases / cases_s:6.1f} cases/min "
                  f"({cases_s:.1f} s for {args.cases} cases; tables {summary.seconds_finalize} s; "
                  f"wall {wall:.1f} s)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
