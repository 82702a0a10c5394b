"""The embedded default segmentation backend: classical image processing, no learned weights.

See ``docs/classical.md`` for the method of every structure and its confidence.
"""

from radgenome.segmentation.classical.segmenter import ALGORITHM_VERSION, STRUCTURES, ClassicalSegmenter

__all__ = ["ALGORITHM_VERSION", "STRUCTURES", "ClassicalSegmenter"]
