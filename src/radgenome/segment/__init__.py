"""Segmentation backends behind one interface (:mod:`radgenome.segment.base`)."""
