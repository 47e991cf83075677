"""HSCNet: Hierarchical Semantic Correspondence Networks for Video Paragraph Grounding."""

__version__ = "0.1.0"
