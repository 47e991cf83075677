rule clip_index:
    """Probe the videos of one shard (fps, frames, duration) and lay out N^V clips of the dataset's extractor."""
    input:
        annotations=lambda w: [prepared(w.dataset, s) for s in SPLITS],
        videos=shard_videos,
    output:
        "results/{dataset}/video/{extractor}_clips_{shard}.json",
    log:
        "logs/{dataset}/clip_index_{extractor}_{shard}.log",
    benchmark:
        "benchmarks/{dataset}/clip_index_{extractor}_{shard}.tsv"
    wildcard_constraints:
        dataset=datasets_where(lambda d: d["visual_features"] == "videos"),
        shard=r"\d+",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        video_dir=lambda w: ds(w)["video_dir"],
        extensions=lambda w: " ".join(ds(w)["video_extensions"]),
        extractor=dataset_extractor,
        num_shards=config["extraction"]["shards"],
        num_clips=lambda w: ds(w)["num_clips"],
    shell:
        "python -m hscnet clip-index --annotations {input.annotations} --video-dir {params.video_dir:q}"
        " --extensions {params.extensions} --extractor {params.extractor} --num-shards {params.num_shards}"
        " --shard {wildcards.shard} --num-clips {params.num_clips} --output {output} 2> {log}"


rule extract_features:
    """Features of one shard's clips with the dataset's extractor (GPU when present), streamed per batch of clips."""
    input:
        clips="results/{dataset}/video/{extractor}_clips_{shard}.json",
        videos=shard_videos,
        weights=weights_file,
    output:
        "results/{dataset}/features/shards/{extractor}_{shard}.h5",
    log:
        "logs/{dataset}/extract_features_{extractor}_{shard}.log",
    benchmark:
        "benchmarks/{dataset}/extract_features_{extractor}_{shard}.tsv"
    wildcard_constraints:
        dataset=datasets_where(lambda d: d["visual_features"] == "videos"),
        shard=r"\d+",
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=720,
        gpu=gpus(config["extraction"]["device"]),
    params:
        weights=lambda w: shlex.quote(ds(w)["weights"]),
        batch_size=config["extraction"]["batch_size"],
        device=config["extraction"]["device"],
        precision=config["extraction"]["precision"],
        channels_last="--channels-last" if config["extraction"]["channels_last"] else "",
        seed=config["seed"],
    shell:
        "python -m hscnet extract-features --clips {input.clips} --weights {params.weights}"
        " --batch-size {params.batch_size} --device {params.device} --precision {params.precision} {params.channels_last}"
        " --seed {params.seed} --threads {threads} --output {output} 2> {log}"


rule merge_features:
    """Merge the extraction shards into one feature store (one dataset per video)."""
    input:
        shards=expand(
            "results/{{dataset}}/features/shards/{{extractor}}_{shard}.h5", shard=range(config["extraction"]["shards"])
        ),
        annotations=lambda w: [prepared(w.dataset, s) for s in SPLITS],
    output:
        "results/{dataset}/features/{extractor}.h5",
    log:
        "logs/{dataset}/merge_features_{extractor}.log",
    benchmark:
        "benchmarks/{dataset}/merge_features_{extractor}.tsv"
    wildcard_constraints:
        dataset=datasets_where(lambda d: d["visual_features"] == "videos"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "python -m hscnet merge-features --annotations {input.annotations} --output {output} {input.shards} 2> {log}"


rule import_features:
    """Import precomputed features (a public C3D release, or generic per-video arrays), resampled to N^V clips."""
    input:
        features=lambda w: ds(w)["precomputed_features"],
        annotations=lambda w: [prepared(w.dataset, s) for s in SPLITS],
    output:
        f"results/{{dataset}}/features/{PRECOMPUTED_FEATURES}.h5",
    log:
        "logs/{dataset}/import_features.log",
    benchmark:
        "benchmarks/{dataset}/import_features.tsv"
    wildcard_constraints:
        dataset=datasets_where(lambda d: d["visual_features"] == "precomputed"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        layout=lambda w: ds(w)["precomputed_layout"],
        num_clips=lambda w: ds(w)["num_clips"],
    shell:
        "python -m hscnet import-features --input {input.features} --layout {params.layout}"
        " --num-clips {params.num_clips} --annotations {input.annotations} --output {output} 2> {log}"
