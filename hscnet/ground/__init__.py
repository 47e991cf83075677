"""``hscnet ground``: a paragraph grounded in a user's own video.

``command`` (the subcommand: features of a new video, text, the model's spans) and ``plot`` (the
timeline figure of ``--plot``).
"""
