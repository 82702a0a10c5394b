"""Volume I/O throughput: load a CT-RATE-sized NIfTI (512x512x300 int16, .nii.gz) with isal vs the standard
gzip path nibabel uses, and the label-map write time.

    python benchmarks/bench_io.py [--slices 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np


def make_ct(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A chest-like int16 HU volume with CT-like noise (so gzip sees realistic entropy)."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    body = (x / 0.85) ** 2 + (y / 0.65) ** 2 < 1
    lungs = (((np.abs(x) - 0.42) / 0.28) ** 2 + (y / 0.45) ** 2) < 1
    slab = np.full(shape[:2], -1024, dtype=np.int16)
    slab[body] = 40
    slab[lungs & body] = -850
    out = np.empty(shape, dtype=np.int16)
    for k in range(shape[2]):
        noise = rng.normal(0, 12, shape[:2]).astype(np.int16)
        out[:, :, k] = np.where(slab > -1024, slab + noise, slab)
    return out


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from radgenome.corpus.volume import read_ct, read_nifti_image
    from radgenome.model import Segmentation, StructureInfo
    from radgenome.segmentation.io import write_segmentation

    shape = (512, 512, args.slices)
    spacing = (0.7, 0.7, 1.5)
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])  # LPS-stored, like many CT-RATE files
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_ct.nii.gz"
        t0 = time.perf_counter()
        data = make_ct(shape)
        t_make = time.perf_counter() - t0
        t0 = time.perf_counter()
        nib.save(nib.Nifti1Image(data, affine), str(path))
        t_save = time.perf_counter() - t0
        mb = path.stat().st_size / 1e6
        print(f"volume {shape} int16, {data.nbytes / 1e6:.0f} MB raw, {mb:.0f} MB .nii.gz")
        print(f"  make {t_make:.2f} s, nibabel save {t_save:.2f} s")

        def std_load() -> np.ndarray:
            return np.asarray(nib.load(str(path)).dataobj)

        def isal_load() -> np.ndarray:
            return np.asarray(read_nifti_image(path).dataobj.get_unscaled())

        t_std = best_of(std_load, args.repeat)
        t_isal = best_of(isal_load, args.repeat)
        np.testing.assert_array_equal(std_load(), isal_load())
        print(f"load, nibabel (gzip module):   {t_std:.2f} s")
        print(f"load, isal igzip + from_bytes: {t_isal:.2f} s   ({t_std / t_isal:.1f}x faster)")
        t_read = best_of(lambda: read_ct(path), args.repeat)
        print(f"read_ct (isal load + HU check + RAS reorientation): {t_read:.2f} s")

        volume = read_ct(path)
        lm = np.zeros(volume.shape, dtype=np.uint8)
        lm[volume.hu < -500] = 1
        lm[:, :, : volume.shape[2] // 2][lm[:, :, : volume.shape[2] // 2] == 1] = 2
        seg = Segmentation(
            lm,
            {1: "left lung", 2: "right lung"},
            {"left lung": StructureInfo("bench", 1.0), "right lung": StructureInfo("bench", 1.0)},
            "bench",
            "0",
        )
        out = Path(tmp) / "out"
        t_write = best_of(lambda: write_segmentation(seg, volume, out), args.repeat)
        t_nib_write = best_of(lambda: nib.save(nib.Nifti1Image(lm, affine), str(Path(tmp) / "nib_lm.nii.gz")), 1)
        print(f"label map write (isal, stats + sidecar, atomic): {t_write:.2f} s")
        print(f"label map write, nibabel save for comparison:    {t_nib_write:.2f} s")


if __name__ == "__main__":
    main()
