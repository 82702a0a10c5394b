"""radgenome.pipeline: per-case job, manifest, local and Ray runners."""
