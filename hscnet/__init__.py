"""HSCNet: Hierarchical Semantic Correspondence Networks for Video Paragraph Grounding.

``from hscnet import Grounder`` grounds paragraphs in videos from Python (``hscnet.ground.grounder``); it is
imported on first use, so ``import hscnet`` (the command line, the workflow's planning) stays free of torch.
"""

__version__ = "0.1.0"
__all__ = ["Grounder"]


def __getattr__(name: str):
    if name == "Grounder":
        from hscnet.ground.grounder import Grounder

        return Grounder
    raise AttributeError(f"module 'hscnet' has no attribute {name!r}")
