"""The generated demo dataset: videos of coloured shapes acting out described events, and their paragraphs.

Nothing under ``hscnet.data`` depends on this package: a TACoS or ActivityNet run reads only the
annotation readers and the dataset; the demo is one more source of files in the same layout.

``script``  the event scripts of a video (what happens when)
``render``  script -> RGB frames -> H.264 file
``text``    sentences describing the events, the text corpus and its word vectors
``generate`` the ``hscnet demo-data`` command: the whole dataset directory
``probe``   a linear probe of how well C3D features carry the events (a benchmark, not a stage)
"""
