"""Segmentation backends behind one interface (:mod:`radgenome.segmentation.base`)."""
