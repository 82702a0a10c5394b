"""Speed and memory of the classical segmenter on a CT-RATE-sized phantom (512x512x300, 0.7x0.7x1.5 mm).

The phantom is drawn in a child process and handed over as a .npy file, so the peak RSS reported here is the
segmentation's (plus the volume itself), not the phantom generator's.

    python benchmarks/bench_segment.py [--repeat 3] [--shape 512 512 300] [--spacing 0.7 0.7 1.5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _make_phantom_file(shape: tuple[int, int, int], spacing: tuple[float, float, float], out: Path) -> float:
    code = (
        "import sys, numpy as np\n"
        "from radgenome.synth.phantom import make_phantom\n"
        f"p = make_phantom(shape={shape!r}, spacing={spacing!r}, seed=0)\n"
        "np.save(sys.argv[1], p.hu)\n"
        "np.save(sys.argv[2], p.affine)\n"
        "np.save(sys.argv[3], p.labelmap)\n"
        "import json; open(sys.argv[4], 'w').write(json.dumps({str(k): v for k, v in p.labels.items()}))\n"
    )
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(out / "hu.npy"),
            str(out / "aff.npy"),
            str(out / "lab.npy"),
            str(out / "labels.json"),
        ],
        check=True,
    )
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    ap.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 1.5))
    args = ap.parse_args(argv)
    shape = (args.shape[0], args.shape[1], args.shape[2])
    spacing = (args.spacing[0], args.spacing[1], args.spacing[2])

    from radgenome.segment.base import CTVolume
    from radgenome.segment.classical import ClassicalSegmenter

    with tempfile.TemporaryDirectory() as tmp:
        gen = _make_phantom_file(shape, spacing, Path(tmp))
        hu = np.load(Path(tmp) / "hu.npy")
        aff = np.load(Path(tmp) / "aff.npy")
        ref = np.load(Path(tmp) / "lab.npy")
        ref_labels = {int(k): v for k, v in json.loads((Path(tmp) / "labels.json").read_text()).items()}
    print(f"phantom {shape} int16 at {spacing} mm: generated in {gen:.1f} s (child process)")
    print(f"RSS after loading the volume: {_peak_rss_mb():.0f} MB")
    seg_ = ClassicalSegmenter()
    vol = CTVolume(case_id="bench", hu=hu, affine=aff)
    walls = []
    seg = None
    for i in range(args.repeat):
        t = time.perf_counter()
        seg = seg_.segment(vol)
        wall = time.perf_counter() - t
        walls.append(wall)
        steps = "  ".join(f"{k}={v:.2f}s" for k, v in seg_.last_timings.items())
        print(f"run {i + 1}: {wall:.2f} s wall | {steps}")
    assert seg is not None
    best = min(walls)
    mvox = hu.size / 1e6
    print(
        f"best {best:.2f} s, median {float(np.median(walls)):.2f} s -> {mvox / best:.1f} Mvoxel/s, "
        f"{3600.0 / best:.0f} volumes/hour/process"
    )
    print(f"peak RSS {_peak_rss_mb():.0f} MB (volume itself {hu.nbytes / 2**20:.0f} MB)")
    print(f"structures: {len(seg.labels)}; warnings: {seg.warnings}")
    # sanity: lungs against the phantom truth
    lobes = [i for i, n in seg.labels.items() if "lung" in n and "lobe" in n]
    from radgenome.synth.phantom import LOBES

    pred = np.isin(seg.labelmap, lobes)
    truth = np.isin(ref, [i for i, n in ref_labels.items() if n in LOBES])
    dice = 2.0 * float((pred & truth).sum()) / max(1.0, float(pred.sum() + truth.sum()))
    print(f"lung Dice vs phantom truth (upsampled labels): {dice:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
