"""Video feature extractors: probing, clip sampling and C3D features (``extract(path) -> dict``).

One concern per module:

* ``probe``: fps, frame count, duration of a video (decord, PyAV fallback), clear errors for bad files.
* ``clips``: uniform sampling of N^V 16-frame clips and their spans in seconds (pure functions).
* ``decode``: streaming frame readers returning only the frames of one batch of clips.
* ``preprocess``: C3D input normalisation per weight format (c3d.pickle vs mmaction2).
* ``c3d``: the C3D network and its weight loading with key/shape checks.
* ``extract``: ``C3DExtractor`` (video -> (N^V, 4096) features) and shard extraction.
* ``store``: the HDF5 feature store of the data contract, shard merging.
* ``precomputed``: import of public TACoS / ActivityNet C3D features, resampled to N^V clips, and how
  each release was made.
* ``release_features``: a new video's features made by a release's recipe (for ``hscnet ground``).
* ``videos``: video ids -> files, video lists, stable shard assignment.
* ``clip_index``: the per-shard JSON of probes and clip layouts.
* ``synthetic``: tiny generated videos for tests and benchmarks.
* ``cli``: the ``hscnet`` subcommands clip-index, extract-c3d, merge-features, import-features.
"""
