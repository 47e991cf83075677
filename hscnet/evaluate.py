"""``hscnet evaluate`` and ``hscnet baseline``: predictions in seconds and their R@m / mIoU.

Two ways to run ``hscnet evaluate``:

    hscnet evaluate --checkpoint best.pt --features c3d.h5 --text glove.h5 --annotations test.json \\
        --predictions predictions.json --metrics metrics.json [--iou 0.1 0.3 0.5 0.7]
        grounds every paragraph of the annotation file with the trained model, writes its predictions
        and scores them;
    hscnet evaluate PREDICTIONS --annotations FILE [--format paragraphs|prvg_npy|tacos|activitynet] [--metrics M]
        scores any predictions file (another method's, a baseline's) against annotations in any
        supported format, with the same code.

``hscnet baseline --kind uniform|whole --annotations FILE --predictions P [--metrics M]`` writes and
scores the video-blind priors of ``hscnet.baselines``.

predictions.json is a paragraph-JSON list: per paragraph ``id``, ``video``, ``duration``, ``sentences``,
``timestamps`` (the final predicted [start, end] seconds of each sentence) and, for the model, ``levels``
with the intermediate decoders' predictions (``sentence``: one span per sentence, ``paragraph``: one
span, ``word``: per sentence one span per word of its tokens) for figures like the paper's Figs. 3-4.
metrics.json: see ``hscnet.metrics`` (R@m and mIoU in percent over all sentences, counts, the hit rule)
plus where the numbers came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from hscnet.checkpoint import load_trained_model
from hscnet.data.annotations import load_normalised
from hscnet.data.dataset import ParagraphDataset
from hscnet.data.loader import make_loader
from hscnet.device import autocast, resolve_device, resolve_precision
from hscnet.errors import InputError
from hscnet.inference import predict
from hscnet.metrics import parse_predictions, score


def check_inputs_match_training(dataset: ParagraphDataset, cfg, trained_on: dict, checkpoint: str) -> None:
    """Features/vectors of another size, another extractor or another number of clips than training's are an error."""
    for path, dim, expected in (
        (dataset.features_path, dataset.video_dim, cfg.video_dim),
        (dataset.text_path, dataset.word_dim, cfg.word_dim),
    ):
        if dim != expected:
            raise InputError(f"{path}: {dim}-d vectors, but the model of {checkpoint} takes {expected}-d ones")
    for kind, path in (("features", dataset.features_path), ("text", dataset.text_path)):
        now = dataset.provenance[kind]
        for key, value in trained_on.get(kind, {}).items():
            if key in ("extractor", "weights", "source", "num_clips", "oov") and key in now and now[key] != value:
                raise InputError(
                    f"{path}: {key} {now[key]!r} differs from the training data's {value!r} ({checkpoint})"
                )


def evaluate_checkpoint(
    checkpoint: str,
    features: str,
    text: str,
    annotations: str,
    thresholds: Sequence[float],
    batch_size: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    hit_rule: str = "ge",
    clamp: bool = True,
) -> tuple[list[dict], dict]:
    """Ground every paragraph of ``annotations`` with a trained model -> (predictions, metrics)."""
    torch_device = resolve_device(device)
    precision = resolve_precision(precision, torch_device)
    trained = load_trained_model(checkpoint, torch_device)
    cfg, state = trained.cfg, trained.checkpoint
    paragraphs = load_normalised(annotations)
    dataset = ParagraphDataset(paragraphs, features, text, trained.feature_stats)
    check_inputs_match_training(dataset, cfg, state.get("data", {}), checkpoint)
    loader = make_loader(dataset, batch_size or trained.batch_size, shuffle=False, generator=None, num_workers=0)
    with autocast(torch_device, precision):
        predictions = predict(trained.model, loader, paragraphs, torch_device)
    metrics = score(
        parse_predictions(predictions, "model predictions"), paragraphs, thresholds, annotations, hit_rule, clamp
    )
    metrics.update(
        method="hscnet",
        ablation=state.get("ablation"),
        checkpoint=str(checkpoint),
        epoch=state["epoch"],
        config=cfg.to_dict(),
        annotations=str(annotations),
        precision=precision,
    )
    return predictions, metrics
