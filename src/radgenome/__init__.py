"""radgenome: build RadGenome-Chest CT-style grounded vision-language datasets from chest CTs and their reports.

The Python API (the ``radgenome`` command line is a thin wrapper over it):

- :func:`analyze_report` — a report's sentences, their RadGenome regions, findings, sizes, disorders and labels;
- :func:`segment` — a CT (NIfTI file, DICOM folder, or array with its affine) into a label map of RadGenome's
  structures, on the input's own grid;
- :func:`region_mask` — the boolean mask of any hierarchy node, RadGenome path or top-level region;
- :func:`build` — the whole pipeline over a corpus, into an output folder (tables, masks, Parquet, report).

``import radgenome`` stays light: everything is imported on first use.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from radgenome.model import BuildSummary, CTVolume, Report, ReportAnalysis, Segmentation

__all__ = [
    "BuildSummary",
    "CTVolume",
    "OutputLayout",
    "Report",
    "ReportAnalysis",
    "Segmentation",
    "__version__",
    "analyze_report",
    "build",
    "region_mask",
    "segment",
]

_TYPES = frozenset({"BuildSummary", "CTVolume", "OutputLayout", "Report", "ReportAnalysis", "Segmentation"})


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("radgenome")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            value = "0.0.0+unknown"
        globals()["__version__"] = value
        return value
    if name in _TYPES:
        from radgenome import model

        return getattr(model, name)
    raise AttributeError(f"module 'radgenome' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def analyze_report(
    text: str | Report, *, backend: str = "rules", volume: str = "report", **options: Any
) -> ReportAnalysis:
    """Analyse one report: sentences, the RadGenome regions each is about, findings with polarity and sizes,
    case disorders and CT-RATE's 18 labels.

    ``text`` is the findings text (headers such as ``IMPRESSION:`` inside it re-route what follows), or a
    :class:`~radgenome.model.Report` with every section. ``backend``: ``rules`` (default, offline), ``llm`` or
    ``hybrid`` (``options`` are those of :class:`radgenome.text.llm.settings.LLMSettings`: ``base_url``,
    ``model``, ...). The analysis' repr lists each sentence with its RadGenome paths and findings
    (``+`` present, ``-`` absent, ``?`` uncertain):

    >>> import radgenome
    >>> radgenome.analyze_report("A 6 mm nodule in the right lung upper lobe. No pleural effusion.")
    <ReportAnalysis 'report' (rules): 2 sentences, disorders: pulmonary nodule>
      [0] findings: 'A 6 mm nodule in the right lung upper lobe.'
          lung/lung/lung upper lobe/right lung upper lobe, lung/lung/right lung/right lung upper lobe
          + nodule (6 mm)
      [1] findings: 'No pleural effusion.'
          pleura/pleura
          - pleural effusion
    >>> a = radgenome.analyze_report("Mild emphysema in both lungs.")
    >>> [(s.nodes, [(f.phrase, f.polarity.value) for f in s.findings]) for s in a.sentences]
    [(('left lung', 'right lung'), [('mild emphysema', 'present')])]
    >>> a.labels["Emphysema"]
    1
    """
    from radgenome.model import Report
    from radgenome.text.registry import get_text_backend

    report = text if isinstance(text, Report) else Report(volume=volume, findings=text)
    engine = get_text_backend(backend, **options)
    try:
        return engine.analyze(report)
    finally:
        engine.close()


def segment(
    volume: str | PathLike[str] | np.ndarray | CTVolume,
    *,
    backend: str = "classical",
    affine: np.ndarray | None = None,
    **options: Any,
) -> Segmentation:
    """Segment a chest CT into RadGenome's structures; the label map is on the input's own grid.

    ``volume``: a ``.nii``/``.nii.gz`` file, a DICOM series folder, a 3-D array of HU with its 4x4 voxel-to-world
    (RAS+, mm) ``affine``, or a :class:`~radgenome.model.CTVolume`. ``backend``: ``classical`` (default, no
    weights), ``totalsegmentator``, ``sat`` or ``precomputed`` (``options`` go to the backend). The result's
    ``affine`` is the label map's; left and right come from it, never from the array order. Every region of the
    hierarchy is then a union of its structures (:func:`region_mask`):

    >>> import radgenome
    >>> from radgenome.synth.phantom import make_phantom
    >>> ct = make_phantom(shape=(48, 48, 40), spacing=(7.0, 7.0, 8.0))   # a synthetic chest CT, HU + affine
    >>> seg = radgenome.segment(ct.hu, affine=ct.affine)
    >>> seg.labelmap.shape == ct.hu.shape, seg.backend
    (True, 'classical')
    >>> {"left lung upper lobe", "right lung middle lobe", "heart", "trachea"} <= set(seg.labels.values())
    True
    >>> bool((seg.affine == ct.affine).all())   # the label map is on the input's grid
    True
    """
    import numpy as np

    from radgenome.corpus.volume import read_ct, volume_from_array
    from radgenome.model import CTVolume, Segmentation
    from radgenome.segmentation.io import labelmap_dtype, labels_on_output_grid, validate_segmentation
    from radgenome.segmentation.registry import get_segmenter

    if isinstance(volume, CTVolume):
        ct = volume
    elif isinstance(volume, np.ndarray):
        if affine is None:
            raise ValueError("segment(array) needs the array's 4x4 voxel-to-world affine: segment(hu, affine=...)")
        ct = volume_from_array(volume, affine)
    else:
        if affine is not None:
            raise ValueError("affine= is for arrays; a file or DICOM folder carries its own")
        ct = read_ct(volume)
    seg = get_segmenter(backend, **options).segment(ct)
    validate_segmentation(seg, ct.shape, check_voxels=False)
    labelmap, grid = labels_on_output_grid(seg, ct, "native")
    dtype = labelmap_dtype(max([int(k) for k in seg.labels] + [0]))
    return Segmentation(
        labelmap=np.asarray(labelmap).astype(dtype, copy=False),
        labels=dict(seg.labels),
        info=dict(seg.info),
        backend=seg.backend,
        version=seg.version,
        settings=dict(seg.settings),
        warnings=list(seg.warnings),
        affine=np.asarray(grid, dtype=np.float64),
    )


def region_mask(segmentation: Segmentation | str | PathLike[str], path: str) -> np.ndarray:
    """The boolean mask of a hierarchy node (``left lung``), RadGenome path (``lung/lung/left lung``) or top-level
    region (``lung``, ``pleura``, ...) — the union of its structures present in the label map.

    ``segmentation``: a :class:`~radgenome.model.Segmentation` (e.g. from :func:`segment`) or a ``radgenome
    segment``/``build`` label map file (its JSON sidecar beside it). The mask has the label map's shape:

    >>> import radgenome
    >>> from radgenome.synth.phantom import make_phantom
    >>> ct = make_phantom(shape=(48, 48, 40), spacing=(7.0, 7.0, 8.0))
    >>> seg = radgenome.segment(ct.hu, affine=ct.affine)
    >>> lungs = radgenome.region_mask(seg, "lung")
    >>> left = radgenome.region_mask(seg, "lung/lung/left lung")
    >>> lungs.dtype, lungs.shape == ct.hu.shape, bool(0 < left.sum() < lungs.sum())
    (dtype('bool'), True, True)
    >>> bool((left & ~lungs).any())   # a union over the hierarchy: the left lung lies within the lungs
    False

    Raises :class:`~radgenome.regions.NotAMaskError` for ``others`` (a catch-all for sentences) and
    :class:`~radgenome.anatomy.UnknownNodeError` for a name outside the hierarchy and the mask vocabulary.
    """
    from radgenome.model import Segmentation
    from radgenome.regions import region_mask as union_mask

    if isinstance(segmentation, Segmentation):
        return union_mask(segmentation.labelmap, segmentation.labels, path)
    from radgenome.segmentation.io import read_segmentation

    labelmap, _, labels, _ = read_segmentation(segmentation)
    if not labels:
        raise ValueError(f"{segmentation}: no sidecar JSON with 'labels' next to the label map")
    return union_mask(labelmap, labels, path)


def build(root: str | PathLike[str] | None, out: str | PathLike[str], **options: Any) -> BuildSummary:
    """The whole pipeline over a corpus: masks, grounded sentences, VQA pairs, RadGenome tables, Parquet,
    ``report.html`` — into ``out`` (resumable: finished, unchanged cases are not redone).

    ``root``: a CT-RATE download (the folder holding ``dataset/``), or None with ``reports=[CSV, ...]``.
    ``options`` are the fields of :class:`radgenome.pipeline.build.BuildOptions`: ``reports``, ``volumes``,
    ``metadata``, ``workers``, ``engine`` (``local``/``ray``), ``text_backend`` (``rules``/``llm``/``hybrid``) and
    ``text_options``, ``seg_backend`` and ``seg_options``, ``space``, ``radgenome_layout``, ``text_only``,
    ``split``, ``seed``, ``force``, ... The summary's ``exit_code`` is 0 when every case was built, 3 when some
    case or report failed (each listed in ``failures``/``issues``, the rest written); nothing buildable raises
    :class:`~radgenome.pipeline.build.BuildError`.

    >>> import tempfile, pathlib, radgenome
    >>> from radgenome.synth.corpus import make_demo_corpus
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = make_demo_corpus(tmp / "corpus", n_cases=2)   # phantom CTs + matching reports, in CT-RATE's layout
    >>> summary = radgenome.build(tmp / "corpus", tmp / "out")
    >>> summary.exit_code, summary.done, summary.failed
    (0, 2, 0)
    >>> layout = radgenome.OutputLayout(tmp / "out")
    >>> sorted(p.name for p in layout.tables_dir.glob("train_*.csv"))[:3]
    ['train_abnormality_labels.csv', 'train_case_disorders.csv', 'train_region_report.csv']
    >>> layout.qa_pairs.is_file(), layout.report.is_file()
    (True, True)
    >>> summary.done == radgenome.build(tmp / "corpus", tmp / "out").skipped   # a second run skips them
    True
    """
    from pathlib import Path

    from radgenome.pipeline.build import BuildOptions, run_build

    return run_build(BuildOptions(out=Path(out), root=None if root is None else Path(root), **options))
