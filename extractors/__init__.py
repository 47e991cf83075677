"""Video feature extractors: any registered backbone turns a video's clips into (T, D) rows.

One concern per module:

* ``base``: the extractor interface (name, dimension, clip sampling, frame preprocessing, weights and
  their provenance) and ``Backbone``, a loaded network.
* ``registry``: extractors by name; plug-ins from ``HSCNET_EXTRACTORS`` (docs/extending.md).
* ``c3d``: the C3D network, its weight formats (c3d.pickle, mmaction2) and their preprocessing.
* ``torchvision_video``: torchvision's Kinetics-400 video models, recipes read from their weights.
* ``extract``: ``FeatureExtractor`` (any backbone: ``extract(video, clips) -> (T, D)``) and shard extraction.
* ``recipe``: what a checkpoint's training features need to be made again from a new video (``hscnet ground``).
* ``probe``: fps, frame count, duration of a video (decord, PyAV fallback), clear errors for bad files.
* ``clips``: uniform clip layouts and their spans in seconds (pure functions).
* ``decode``: streaming frame readers returning only the frames of one batch of clips.
* ``clip_index``: the per-shard JSON of probes and clip layouts of one extractor.
* ``store``: the HDF5 feature store of the data contract, shard merging.
* ``precomputed``: import of public TACoS / ActivityNet C3D features and generic per-video arrays,
  resampled to N^V clips, and how each release was made.
* ``release_features``: a new video's features made by a release's recipe (for ``hscnet ground``).
* ``videos``: video ids -> files, video lists, stable shard assignment.
* ``synthetic``: tiny generated videos for tests and benchmarks.
* ``command``: the ``hscnet`` subcommands clip-index, extract-features, merge-features, import-features.
"""
