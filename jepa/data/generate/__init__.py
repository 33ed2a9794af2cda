"""Everything that writes a synthetic dataset to disk, each once and atomically (:mod:`.files`): the procedural
shapes, the moving-shapes videos, the generated sounds and the spoken digits. The datasets in ``jepa.data`` call
these on first use; nothing here imports a dataset, so generating never depends on how the data are read."""
