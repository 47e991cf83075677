rule train:
    """Train HSCNet (Adam, lr 1e-4, best checkpoint by validation mIoU)."""
    input:
        features="results/{dataset}/features/c3d.h5",
        text="results/{dataset}/text/glove.h5",
        train="results/{dataset}/annotations/train.json",
        val="results/{dataset}/annotations/val.json",
    output:
        best="results/{dataset}/runs/{run}/best.pt",
        history="results/{dataset}/runs/{run}/history.csv",
        config="results/{dataset}/runs/{run}/config.json",
    params:
        preset=lambda w: ds(w)["model_preset"],
        ablation=lambda w: f"--ablation {shlex.quote(ABLATION_RUNS[w.run])}" if w.run != "full" else "",
        crop=lambda w: "--temporal-crop" if ds(w).get("temporal_crop") else "",
        epochs=f"--epochs {config['train']['epochs']}" if config["train"]["epochs"] else "",
        batch_size=f"--batch-size {config['train']['batch_size']}" if config["train"]["batch_size"] else "",
        iou=lambda w: " ".join(map(str, ds(w)["iou_thresholds"])),
        seed=config["seed"],
        out=lambda w, output: Path(output.best).parent,
        device=config["train"]["device"],
        num_workers=config["train"]["num_workers"],
    wildcard_constraints:
        run="|".join(["full", *map(re.escape, ABLATION_RUNS)]),
    log:
        "logs/{dataset}/train_{run}.log",
    benchmark:
        "benchmarks/{dataset}/train_{run}.tsv"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=1440,
        gpu=gpus(config["train"]["device"]),
    conda:
        CONDA_ENV
    shell:
        # --resume: a run killed mid-way continues from its last.pt (refused if the config differs)
        "python -m hscnet train --features {input.features} --text {input.text} --train {input.train} --val {input.val}"
        " --preset {params.preset} {params.ablation} {params.crop} {params.epochs} {params.batch_size} --iou {params.iou}"
        " --seed {params.seed} --device {params.device} --num-workers {params.num_workers} --threads {threads}"
        " --out {params.out} --resume 2> {log}"


use rule train as train_seed with:
    output:
        best="results/{dataset}/seeds/{seed}/runs/{run}/best.pt",
        history="results/{dataset}/seeds/{seed}/runs/{run}/history.csv",
        config="results/{dataset}/seeds/{seed}/runs/{run}/config.json",
    params:
        seed=lambda w: w.seed,
    log:
        "logs/{dataset}/seeds/{seed}/train_{run}.log",
    benchmark:
        "benchmarks/{dataset}/seeds/{seed}/train_{run}.tsv"
