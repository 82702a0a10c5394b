"""Speed and memory of the classical segmenter on a CT-RATE-sized phantom (512x512x300, 0.7x0.7x1.5 mm).

The phantom is drawn in a child process and handed over as a .npy file, so the peak RSS reported here is the
segmentation's (plus the volume itself), not the phantom generator's.

    python benchmarks/bench_segment.py [--repeat 3] [--shape 512 512 300] [--spacing 0.7 0.7 1.5]
    python benchmarks/bench_segment.py --lobes   # lobe agreement on the two-slice COPDGene 16021S case
    python benchmarks/bench_segment.py --levels  # vertebra and rib numbering on phantoms (fields of view x seeds)
    python benchmarks/bench_segment.py --realct-figure out.png   # the levels on COPDGene 10002K, drawn

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


LEVEL_FOVS: tuple[str | tuple[float, float], ...] = (
    "chest",
    "neck_to_pelvis",
    "neck_to_mid_chest",
    "neck_to_lung_bases",
    "carina_to_upper_abdomen",
    "mid_chest_to_upper_abdomen",
    "abdomen_with_lung_bases",
    "abdomen",
    (-100.0, 80.0),
    (-60.0, 200.0),
    (-200.0, 60.0),
    (-300.0, -20.0),
    (40.0, 220.0),
    (-150.0, 140.0),
)
"""Fields of view of the numbering report: the presets, and windows starting below T1 / ending above T12."""
LEVEL_SEEDS: tuple[tuple[int, float], ...] = ((0, 0.0), (1, 0.1), (2, 0.15))
"""(seed, spine variation) of the phantoms: the standard column, and columns with uneven heights."""


def _numbered_truth(p: object) -> dict[int, str]:
    from radgenome.segmentation.classical.levels import NUMBERED_LEVELS, RIB_NAMES

    names = set(NUMBERED_LEVELS) | set(RIB_NAMES)
    return {i: n for i, n in p.labels.items() if n in names}  # type: ignore[attr-defined]


def levels_report(fovs: tuple[str | tuple[float, float], ...] = LEVEL_FOVS,
                  seeds: tuple[tuple[int, float], ...] = LEVEL_SEEDS) -> int:
    """Per case: the anchor, how many of the levels and ribs in view were numbered, and how many numbered masks
    name another bone (by majority: *misnamed*; less than 60 % of their bone voxels that bone: *impure*); per level:
    Dice against the phantom, mean over the cases where both the truth and the mask exist."""
    from radgenome.model import CTVolume
    from radgenome.segmentation.classical import ClassicalSegmenter
    from radgenome.segmentation.classical.levels import NUMBERED_LEVELS, RIB_NAMES
    from radgenome.synth.phantom import make_fov_phantom

    seg_ = ClassicalSegmenter()
    dice_by: dict[str, list[float]] = {}
    totals = {"cases": 0, "numbered": 0, "misnamed": 0, "impure": 0, "in_view": 0, "named": 0, "named_right": 0}
    print("field of view | seed, variation | anchor (confidence) | levels+ribs named right / in view | misnamed | "
          "impure")
    for fov in fovs:
        for seed, var in seeds:
            p = make_fov_phantom(fov, seed=seed, spine_variation=var)
            seg = seg_.segment(CTVolume("levels", p.hu, p.affine))
            truth = _numbered_truth(p)
            lut = np.zeros(max(p.labels) + 1, dtype=np.int64)
            for i in truth:
                lut[i] = i
            misnamed, impure, right = [], [], 0
            for i, name in seg.labels.items():
                if name not in truth.values():
                    if name in NUMBERED_LEVELS or name in RIB_NAMES:
                        misnamed.append(f"{name} (not in view)")
                    continue
                kind = [j for j, n in truth.items() if (" rib " in n) == (" rib " in name)]
                t = lut[p.labelmap[seg.labelmap == i]]
                t = t[np.isin(t, kind)]
                if len(t) < 20:
                    continue
                counts = np.bincount(t)
                top = truth[int(counts.argmax())]
                same = next(j for j, n in truth.items() if n == name)
                pure = float(counts[same]) / len(t) if same < len(counts) else 0.0
                if top != name:
                    misnamed.append(f"{name}->{top}")
                else:
                    right += 1
                    if pure < 0.6:
                        impure.append(f"{name} {pure:.0%}")
            for i, name in truth.items():
                a = p.labelmap == i
                ids = [k for k, n in seg.labels.items() if n == name]
                if ids:
                    b = seg.labelmap == ids[0]
                    dice_by.setdefault(name, []).append(2.0 * float((a & b).sum()) / float(a.sum() + b.sum()))
            lv = seg.settings["levels"]
            totals["cases"] += 1
            totals["numbered"] += int(bool(lv.get("numbered")))
            totals["misnamed"] += int(bool(misnamed))
            totals["impure"] += int(bool(impure))
            totals["in_view"] += len(truth)
            totals["named_right"] += right
            anchor = f"{lv.get('anchor')} ({lv.get('confidence')})" if lv.get("numbered") else "none: not numbered"
            print(f"{fov} | {seed}, {var} | {anchor} | {right}/{len(truth)} | {', '.join(misnamed) or '-'} | "
                  f"{', '.join(impure) or '-'}")
    print(f"\n{totals['cases']} cases, {totals['numbered']} numbered; cases with a misnamed mask: "
          f"{totals['misnamed']}, with an impure one: {totals['impure']}; numbered right: {totals['named_right']} "
          f"of {totals['in_view']} levels and ribs in view ({totals['named_right'] / max(1, totals['in_view']):.0%})")
    print("\nper-level Dice (mean over the cases where both exist; n):")
    for name in [*NUMBERED_LEVELS, *[f"{s} rib {k}" for k in range(1, 13) for s in ("left", "right")]]:
        d = dice_by.get(name, [])
        if d:
            print(f"  {name:30s} {np.mean(d):.3f}  (min {np.min(d):.3f}, n={len(d)})")
    return 0


def realct_figure(out: Path, case: Path = LOBE_CASE.parent / "cip_copdgene_10002K_ct64") -> int:
    """Coronal and sagittal maximum-intensity projections of the shared real chest CT with the numbered
    vertebrae and ribs coloured (a rib takes its vertebra's colour) and the levels written beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from radgenome.corpus.volume import read_ct
    from radgenome.segmentation.classical import ClassicalSegmenter
    from radgenome.segmentation.classical.levels import LEVEL_NAMES, SHORT

    path = case / "ct.nii.gz"
    if not path.is_file():
        print(f"real CT not found: {path}")
        return 1
    vol = read_ct(path)
    hu = np.asarray(vol.hu)
    seg = ClassicalSegmenter().segment(vol)
    sp = np.sqrt((np.asarray(vol.affine)[:3, :3] ** 2).sum(axis=0))
    colour = np.zeros(seg.labelmap.shape, dtype=np.int16)
    vert_ids = []
    for i, n in seg.labels.items():
        if n in LEVEL_NAMES:
            colour[seg.labelmap == i] = LEVEL_NAMES.index(n) % 20 + 1
            vert_ids.append(LEVEL_NAMES.index(n) % 20 + 1)
        elif " rib " in n:
            colour[seg.labelmap == i] = (int(n.split()[-1]) + 6) % 20 + 1  # the colour of its vertebra T k
        elif n in ("vertebrae", "left rib", "right rib", "costal cartilage"):
            colour[seg.labelmap == i] = 21  # unnumbered
    tab = plt.get_cmap("tab20")
    cmap = ListedColormap([(0, 0, 0, 0)] + [tab(k % 20) for k in range(20)] + [(0.6, 0.6, 0.6, 1.0)])
    fig, ax = plt.subplots(1, 2, figsize=(16, 10))
    for a, axis in ((ax[0], 1), (ax[1], 0)):
        mip = np.clip(hu.max(axis=axis), -200, 1200)
        c = colour.max(axis=axis) if axis == 1 else np.where(np.isin(colour, vert_ids), colour, 0).max(axis=axis)
        width = mip.shape[0] * sp[0 if axis == 1 else 1]
        ex = (0.0, width, 0.0, mip.shape[1] * sp[2])
        a.imshow(mip.T, origin="lower", cmap="gray", extent=ex)
        a.imshow(c.T, origin="lower", cmap=cmap, vmin=0, vmax=21, alpha=0.5, extent=ex, interpolation="nearest")
    for i, n in seg.labels.items():
        if n in LEVEL_NAMES:
            idx = np.argwhere(seg.labelmap == i).mean(axis=0)
            ax[0].text(idx[0] * sp[0], idx[2] * sp[2], SHORT[LEVEL_NAMES.index(n)], color="yellow", fontsize=9,
                       ha="center", va="center")
            ax[1].text(idx[1] * sp[1] - 25, idx[2] * sp[2], SHORT[LEVEL_NAMES.index(n)], color="yellow", fontsize=9)
        elif " rib " in n:
            idx = np.argwhere(seg.labelmap == i)
            far = idx[np.argmax(np.abs(idx[:, 0] - seg.labelmap.shape[0] / 2))]
            ax[0].text(far[0] * sp[0], far[2] * sp[2], n.split()[-1], color="cyan", fontsize=8, ha="center")
    ax[0].set_title("coronal MIP: vertebrae and ribs by level (a rib takes its vertebra's colour; grey: unnumbered)")
    ax[1].set_title("sagittal MIP: vertebral levels")
    lv = seg.settings["levels"]
    found = lv.get("levels_found") or []
    fig.suptitle(f"{case.name} ({' x '.join(str(s) for s in hu.shape)}, {sp[0]:.1f} x {sp[1]:.1f} x {sp[2]:.1f} "
                 f"mm): anchor {lv.get('anchor')} (confidence {lv.get('confidence')}), anchors seen "
                 f"{[a['level'] for a in lv.get('anchors_seen', [])]}; levels {found[0] if found else '-'}.."
                 f"{found[-1] if found else '-'}")
    plt.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"wrote {out}: levels {found}; ribs {sorted(n for n in seg.labels.values() if ' rib ' in n)}")
    print(f"discs z (mm): {lv.get('discs_z_mm')}; rib levels z (mm): {lv.get('rib_levels_z_mm')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    ap.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 1.5))
    ap.add_argument("--lobes", action="store_true", help="lobe agreement on the two-slice case, then exit")
    ap.add_argument("--levels", action="store_true", help="vertebra and rib numbering on phantoms, then exit")
    ap.add_argument("--realct-figure", type=Path, default=None, help="draw the levels on the real chest CT, exit")
    args = ap.parse_args(argv)
    if args.lobes:
        return lobe_report()
    if args.levels:
        return levels_report()
    if args.realct_figure is not None:
        return realct_figure(args.realct_figure)
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
