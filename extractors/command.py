"""Video-stage subcommands: clip-index, extract-features, merge-features, import-features.

Workflow (per dataset, K shards): ``clip-index`` of shard i -> ``extract-features`` of shard i ->
``merge-features`` of all shards -> results/{dataset}/features/{extractor}.h5. Datasets with public
precomputed features use ``import-features`` instead. ``hscnet extract-features --list`` names the
registered extractors (``extractors.registry``).
"""

from __future__ import annotations

import argparse
import logging

from hscnet.errors import InputError
from hscnet.limits import MAX_CLIPS, PRECISION_CHOICES

log = logging.getLogger(__name__)


def clip_count(text: str) -> int:
    """--num-clips: 1..MAX_CLIPS, refused before any video is opened."""
    count = int(text)
    if not 1 <= count <= MAX_CLIPS:
        raise argparse.ArgumentTypeError(
            f"{count} clips per video: must be 1..{MAX_CLIPS} (the model's position table and the store's clip spans)"
        )
    return count


def register(subparsers: argparse._SubParsersAction) -> None:
    _add_clip_index(subparsers)
    _add_extract_features(subparsers)
    _add_merge_features(subparsers)
    _add_import_features(subparsers)


def _add_clip_index(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "clip-index",
        help="probe the videos of one shard and lay out N^V clips of an extractor over each (JSON)",
        description="Probe videos (fps, frames, duration) and write their uniform clip layout, with the "
        "extractor's frames per clip and frame rate, as JSON. Videos come from --videos, --video-list or "
        "--annotations with --video-dir; --num-shards/--shard keep only the videos whose stable CRC-32 shard "
        "is --shard.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--videos", nargs="+", metavar="ID=PATH", help="videos given on the command line")
    source.add_argument("--video-list", metavar="FILE", help="text file with one ID=PATH per line")
    source.add_argument(
        "--annotations", nargs="+", metavar="JSON", help="paragraph JSON files; ids are their 'video' strings"
    )
    p.add_argument("--video-dir", help="folder of the videos (with --annotations)")
    p.add_argument(
        "--extensions", nargs="*", default=[], metavar="EXT", help="extensions tried after the bare id, e.g. .mp4 .avi"
    )
    p.add_argument("--extractor", default="c3d", help="whose clips to lay out (default c3d; see extract-features)")
    p.add_argument("--num-shards", type=int, default=1, help="number of shards (default 1)")
    p.add_argument("--shard", type=int, default=0, help="index of this shard, 0..num-shards-1 (default 0)")
    p.add_argument("--num-clips", type=clip_count, required=True, help=f"clips per video, N^V (1..{MAX_CLIPS})")
    p.add_argument(
        "--backend",
        choices=("auto", "decord", "pyav"),
        default="auto",
        help="video reader (default: decord, PyAV fallback)",
    )
    p.add_argument("--output", required=True, help="clip index JSON to write")
    p.set_defaults(func=run_clip_index)


def _add_extract_features(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract-features",
        help="features of the videos of a clip index with a registered extractor (HDF5 shard)",
        description="Extract the features of every clip of a clip index into an HDF5 feature store, with the "
        "extractor the index was laid out for. --list names the registered extractors.",
    )
    p.add_argument("--list", action="store_true", help="list the registered extractors and exit")
    p.add_argument("--clips", help="clip index JSON written by clip-index")
    p.add_argument(
        "--weights",
        help="a weights file (C3D: c3d.pickle or an mmaction2 checkpoint; torchvision models: a state_dict), "
        "'pretrained' (torchvision's official weights, downloaded or from its cache), 'random' (a seeded random "
        "init, demo only) or 'none' (an extractor without parameters)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --weights random (default 0)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per forward pass (default 8)")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda[:N] (default auto)")
    p.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="fp32",
        help="fp32 (default), autocast to bf16/fp16, or auto: bf16 where the CPU (AVX-512 BF16, AMX) "
        "or GPU computes it natively, else fp32",
    )
    p.add_argument("--channels-last", action="store_true", help="channels_last_3d memory layout of weights and inputs")
    p.add_argument("--decoder-threads", type=int, default=1, help="FFmpeg decoding threads (default 1)")
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: all cores; give the job's share when jobs run side by side)",
    )
    p.add_argument("--output", help="HDF5 shard to write")
    p.set_defaults(func=run_extract_features)


def _add_merge_features(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "merge-features",
        help="merge HDF5 feature shards into one store",
        description="Merge feature shards; duplicate ids, mismatched extractors and (with --annotations) "
        "annotated videos missing from every shard are errors.",
    )
    p.add_argument("shards", nargs="+", metavar="SHARD.h5", help="shard files")
    p.add_argument(
        "--annotations",
        nargs="*",
        default=None,
        metavar="JSON",
        help="paragraph JSON files whose videos must all be present",
    )
    p.add_argument("--output", required=True, help="merged HDF5 store to write")
    p.set_defaults(func=run_merge_features)


def _add_import_features(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-features",
        help="import precomputed features (public C3D releases, or any per-video arrays), resampled to N^V clips",
        description="Resample TACoS (TALL), ActivityNet (sub_activitynet_v1-3.c3d) or generic per-video features "
        "(I3D, CLIP, SlowFast, ...) of every annotated video into N^V equal time bins and write them as a feature "
        "store.",
    )
    p.add_argument("--input", required=True, help="precomputed HDF5 file (generic: or a directory of .npy files)")
    p.add_argument(
        "--layout",
        required=True,
        choices=("tacos", "activitynet", "generic"),
        help="layout of the input: a public release, or generic (one (T, D) array per video id, any D)",
    )
    p.add_argument("--num-clips", type=clip_count, required=True, help=f"clips per video, N^V (1..{MAX_CLIPS})")
    p.add_argument(
        "--annotations", nargs="+", required=True, metavar="JSON", help="paragraph JSON files (video ids and durations)"
    )
    p.add_argument("--output", required=True, help="HDF5 store to write")
    p.set_defaults(func=run_import_features)


def run_clip_index(args: argparse.Namespace) -> None:
    from extractors import registry
    from extractors.clip_index import build_clip_index, write_clip_index
    from extractors.videos import parse_video_specs, read_paragraph_videos, read_video_list, resolve_videos, shard_of

    if not 0 <= args.shard < args.num_shards:
        raise InputError(f"--shard {args.shard} is not in 0..{args.num_shards - 1}")
    extractor = registry.get(args.extractor)  # an unknown name is refused before any video is probed

    def in_shard(video_id: str) -> bool:
        return shard_of(video_id, args.num_shards) == args.shard

    if args.videos:
        specs = parse_video_specs((f"--videos {spec}", spec) for spec in args.videos)
        videos = {v: p for v, p in specs.items() if in_shard(v)}
    elif args.video_list:
        videos = {v: p for v, p in read_video_list(args.video_list).items() if in_shard(v)}
    else:
        if not args.video_dir:
            raise InputError("--annotations needs --video-dir")
        # Filter before resolving: only this shard's videos need to exist for this job.
        ids = [v for v in read_paragraph_videos(args.annotations) if in_shard(v)]
        videos = resolve_videos(ids, args.video_dir, args.extensions)
    index = build_clip_index(videos, args.num_clips, extractor.name, extractor.sampling, backend=args.backend)
    write_clip_index(args.output, index)
    log.info(
        "clip index of %d videos (shard %d/%d) written to %s", len(videos), args.shard, args.num_shards, args.output
    )


def run_extract_features(args: argparse.Namespace) -> None:
    import torch

    from extractors import registry
    from extractors.clip_index import read_clip_index
    from extractors.extract import FeatureExtractor, extract_shard

    if args.list:
        for name in registry.names():
            extractor = registry.get(name)
            print(f"{name:14s} {extractor.feature_dim:5d}-d  {extractor.sampling.describe()}  {extractor.description}")
        return
    if not args.clips or not args.output:
        raise InputError("extract-features needs --clips and --output (or --list)")
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be positive, got {args.threads}")
        torch.set_num_threads(args.threads)
    index = read_clip_index(args.clips)
    extractor = registry.get(index.extractor)
    if extractor.sampling != index.sampling:
        raise InputError(
            f"{args.clips}: clips laid out as {index.sampling.describe()}, but {extractor.name} now takes "
            f"{extractor.sampling.describe()}; build the clip index again"
        )
    features = FeatureExtractor(
        extractor.load(args.weights, args.seed),
        num_clips=index.num_clips,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        channels_last=args.channels_last,
        decoder_threads=args.decoder_threads,
    )
    extract_shard(index.videos, index.num_clips, args.output, features)


def run_merge_features(args: argparse.Namespace) -> None:
    from extractors.store import merge_feature_files
    from extractors.videos import read_paragraph_videos

    expected = list(read_paragraph_videos(args.annotations)) if args.annotations else None
    merge_feature_files(args.shards, args.output, expected_ids=expected)


def run_import_features(args: argparse.Namespace) -> None:
    from extractors.precomputed import import_precomputed
    from extractors.videos import read_paragraph_videos

    durations = read_paragraph_videos(args.annotations)
    import_precomputed(args.input, args.layout, args.num_clips, durations, args.output)
