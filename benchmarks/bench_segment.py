"""Speed and memory of the classical segmenter on a CT-RATE-sized phantom (512x512x300, 0.7x0.7x1.5 mm).

The phantom is drawn in a child process and handed over as a .npy file, so the peak RSS reported here is the
segmentation's (plus the volume itself), not the phantom generator's.

    python benchmarks/bench_segment.py [--repeat 3] [--shape 512 512 300] [--spacing 0.7 0.7 1.5]
    python benchmarks/bench_segment.py --lobes   # lobe agreement on the two-slice COPDGene 16021S case

The lobe planes are placed relative to each lung's craniocaudal extent, which two slices do not show: the
lobe report therefore sweeps the slices' assumed relative height in the lung (0 = base, 1 = apex) and prints
the agreement (fraction of reference lung voxels given the right lobe) and per-lobe Dice for each height.
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


LOBE_CASE = (
    Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "volumes" / "cip_copdgene_16021S_crop2slices"
)
LOBE_NAMES = {
    1: "right lung upper lobe",
    2: "right lung middle lobe",
    3: "right lung lower lobe",
    4: "left lung upper lobe",
    5: "left lung lower lobe",
}


def lobe_report(case: Path = LOBE_CASE) -> int:
    import nibabel as nib

    from radgenome.segmentation.classical.grid import WorkGrid
    from radgenome.segmentation.classical.lungs import approximate_lobes

    path = case / "lobes_2slices_RUL1_RML2_RLL3_LUL4_LLL5.nii.gz"
    if not path.is_file():
        print(f"lobe case not found: {path}")
        return 1
    img = nib.as_closest_canonical(nib.load(str(path)))
    ref = np.asarray(img.dataobj).astype(np.int16)
    g = WorkGrid(hu=np.zeros(ref.shape, np.float32), affine=img.affine, factors=(1, 1, 1), full_shape=ref.shape)
    print(f"two-slice lobe case {ref.shape}: reference lung = union of the reference lobes (no 3-D extent)")
    z_slice = float(g.centroid_world(ref > 0)[2])
    height = 250.0  # any value: the planes depend on the relative height only
    rows = []
    for h in np.round(np.arange(0.2, 0.81, 0.05), 2):
        z0 = z_slice - h * height
        pred = np.zeros_like(ref)
        for right, ids in ((True, (1, 2, 3)), (False, (4, 5))):
            lung = np.isin(ref, ids)
            yw = g.world(np.argwhere(lung))[:, 1]
            ext = (float(np.percentile(yw, 1)), float(np.percentile(yw, 99)), z0, z0 + height)
            for name, m in approximate_lobes(g, lung, right, extent=ext).items():
                pred[m] = next(k for k, v in LOBE_NAMES.items() if v == name)
        lung = ref > 0
        agree = float((pred[lung] == ref[lung]).mean())
        dices = {}
        for k, name in LOBE_NAMES.items():
            a, b = pred == k, ref == k
            dices[name] = 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))
        rows.append((h, agree, dices))
        per = " ".join(f"{n.replace('lung ', '').replace(' lobe', '')}={d:.2f}" for n, d in dices.items())
        print(f"  assumed height {h:.2f}: agreement {agree:.3f} | Dice {per}")
    best = max(rows, key=lambda r: r[1])
    print(f"best agreement {best[1]:.3f} at height {best[0]:.2f}; at 0.50: {dict((r[0], r[1]) for r in rows)[0.5]:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    ap.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 1.5))
    ap.add_argument("--lobes", action="store_true", help="lobe agreement on the two-slice case, then exit")
    args = ap.parse_args(argv)
    if args.lobes:
        return lobe_report()
    shape = (args.shape[0], args.shape[1], args.shape[2])
    spacing = (args.spacing[0], args.spacing[1], args.spacing[2])

    from radgenome.model import CTVolume
    from radgenome.segmentation.classical import ClassicalSegmenter

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
