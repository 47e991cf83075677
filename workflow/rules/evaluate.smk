rule evaluate:
    """Ground the test paragraphs with an ablation run's best checkpoint; R@m and mIoU on seconds."""
    input:
        checkpoint="results/{dataset}/runs/{run}/best.pt",
        features=features_file,
        text="results/{dataset}/text/glove.h5",
        annotations="results/{dataset}/annotations/test.json",
    output:
        predictions="results/{dataset}/runs/{run}/predictions.json",
        metrics="results/{dataset}/runs/{run}/metrics.json",
    log:
        "logs/{dataset}/evaluate_{run}.log",
    benchmark:
        "benchmarks/{dataset}/evaluate_{run}.tsv"
    wildcard_constraints:
        run="|".join(map(re.escape, ABLATION_RUNS)),  # the full run's metrics are results/{dataset}/metrics.json
    conda:
        CONDA_ENV
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=gpus(config["train"]["device"]),
    params:
        scoring=scoring,
        device=config["train"]["device"],
        precision=train_precision,
    shell:
        "python -m hscnet evaluate --checkpoint {input.checkpoint} --features {input.features} --text {input.text}"
        " --annotations {input.annotations} {params.scoring} --device {params.device} --precision {params.precision}"
        " --threads {threads} --predictions {output.predictions} --metrics {output.metrics} 2> {log}"


use rule evaluate as evaluate_full with:
    input:
        checkpoint="results/{dataset}/runs/full/best.pt",
        features=features_file,
        text="results/{dataset}/text/glove.h5",
        annotations="results/{dataset}/annotations/test.json",
    output:
        predictions="results/{dataset}/predictions.json",
        metrics="results/{dataset}/metrics.json",
    log:
        "logs/{dataset}/evaluate_full.log",
    benchmark:
        "benchmarks/{dataset}/evaluate_full.tsv"


use rule evaluate as evaluate_seed with:
    input:
        checkpoint="results/{dataset}/seeds/{seed}/runs/{run}/best.pt",
        features=features_file,
        text="results/{dataset}/text/glove.h5",
        annotations="results/{dataset}/annotations/test.json",
    output:
        predictions="results/{dataset}/seeds/{seed}/runs/{run}/predictions.json",
        metrics="results/{dataset}/seeds/{seed}/runs/{run}/metrics.json",
    log:
        "logs/{dataset}/seeds/{seed}/evaluate_{run}.log",
    benchmark:
        "benchmarks/{dataset}/seeds/{seed}/evaluate_{run}.tsv"
    wildcard_constraints:
        run="|".join(["full", *map(re.escape, ABLATION_RUNS)]),


rule baseline:
    """Test metrics of a video-blind prior (uniform: sentences spread evenly over the video)."""
    input:
        "results/{dataset}/annotations/test.json",
    output:
        predictions="results/{dataset}/baselines/{kind}/predictions.json",
        metrics="results/{dataset}/baselines/{kind}/metrics.json",
    log:
        "logs/{dataset}/baseline_{kind}.log",
    benchmark:
        "benchmarks/{dataset}/baseline_{kind}.tsv"
    wildcard_constraints:
        kind="uniform|whole",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        scoring=scoring,
    shell:
        "python -m hscnet baseline --kind {wildcards.kind} --annotations {input} {params.scoring}"
        " --predictions {output.predictions} --metrics {output.metrics} 2> {log}"
