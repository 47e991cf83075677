"""Video feature extractors: probing, clip sampling and C3D features (``extract(path) -> dict``)."""
