rule clip_index:
    """Probe the videos of one shard (fps, frames, duration) and sample N^V clips of 16 frames."""
    input:
        annotations=lambda w: [prepared(w.dataset, s) for s in SPLITS],
        videos=shard_videos,
    output:
        "results/{dataset}/video/clips_{shard}.json",
    log:
        "logs/{dataset}/clip_index_{shard}.log",
    benchmark:
        "benchmarks/{dataset}/clip_index_{shard}.tsv"
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
        num_shards=config["c3d"]["shards"],
        num_clips=lambda w: ds(w)["num_clips"],
    shell:
        "python -m hscnet clip-index --annotations {input.annotations} --video-dir {params.video_dir:q}"
        " --extensions {params.extensions} --num-shards {params.num_shards} --shard {wildcards.shard}"
        " --num-clips {params.num_clips} --output {output} 2> {log}"


rule extract_c3d:
    """C3D features of one shard's clips (GPU when present), streamed per batch of clips."""
    input:
        clips="results/{dataset}/video/clips_{shard}.json",
        videos=shard_videos,
        weights=[config["c3d"]["weights"]] if config["c3d"]["weights"] else [],
    output:
        "results/{dataset}/features/shards/c3d_{shard}.h5",
    log:
        "logs/{dataset}/extract_c3d_{shard}.log",
    benchmark:
        "benchmarks/{dataset}/extract_c3d_{shard}.tsv"
    wildcard_constraints:
        dataset=datasets_where(lambda d: d["visual_features"] == "videos"),
        shard=r"\d+",
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=720,
        gpu=gpus(config["c3d"]["device"]),
    params:
        weights=f"--weights {shlex.quote(config['c3d']['weights'])}" if config["c3d"]["weights"] else "",
        layer=config["c3d"]["layer"],
        batch_size=config["c3d"]["batch_size"],
        device=config["c3d"]["device"],
        precision=config["c3d"]["precision"],
        channels_last="--channels-last" if config["c3d"]["channels_last"] else "",
        seed=config["seed"],
    shell:
        "python -m hscnet extract-c3d --clips {input.clips} {params.weights} --layer {params.layer}"
        " --batch-size {params.batch_size} --device {params.device} --precision {params.precision} {params.channels_last}"
        " --seed {params.seed} --threads {threads} --output {output} 2> {log}"


rule merge_features:
    """Merge the extraction shards into one feature store (one dataset per video)."""
    input:
        shards=expand("results/{{dataset}}/features/shards/c3d_{shard}.h5", shard=range(config["c3d"]["shards"])),
        annotations=lambda w: [prepared(w.dataset, s) for s in SPLITS],
    output:
        "results/{dataset}/features/c3d.h5",
    log:
        "logs/{dataset}/merge_features.log",
    benchmark:
        "benchmarks/{dataset}/merge_features.tsv"
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
        "results/{dataset}/features/c3d.h5",
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
