rule train:
    """Train HSCNet (Adam, lr 1e-4, best checkpoint by validation mIoU)."""
    input:
        features=features_file,
        text="results/{dataset}/text/glove.h5",
        train="results/{dataset}/annotations/train.json",
        val="results/{dataset}/annotations/val.json",
    output:
        # last.pt is declared so that a rerun Snakemake decides (changed input, params, --forcerun) deletes
        # the finished run and trains from scratch; in_progress.pt is not, so a killed job resumes from it.
        best="results/{dataset}/runs/{run}/best.pt",
        last="results/{dataset}/runs/{run}/last.pt",
        history="results/{dataset}/runs/{run}/history.csv",
        config="results/{dataset}/runs/{run}/config.json",
    log:
        "logs/{dataset}/train_{run}.log",
    benchmark:
        "benchmarks/{dataset}/train_{run}.tsv"
    wildcard_constraints:
        run="|".join(["full", *map(re.escape, ABLATION_RUNS)]),
    conda:
        CONDA_ENV
    threads: max(config["train"]["threads"], config["train"]["gpus_per_run"])
    resources:
        mem_mb=8000 * config["train"]["gpus_per_run"],
        runtime=1440,
        gpu=gpus(config["train"]["device"]) * config["train"]["gpus_per_run"],
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
        precision=train_precision,
        num_workers=config["train"]["num_workers"],
        # several processes: torchrun (DDP) on this machine, on a free port of the loopback interface
        python=(
            f"python -m torch.distributed.run --nnodes 1 --nproc-per-node {config['train']['gpus_per_run']}"
            " --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:0"
            if config["train"]["gpus_per_run"] > 1
            else "python"
        ),
    shell:
        # --resume: a killed job continues from its in_progress.pt (refused, naming what differs, if the
        # model config, seed, training options or data files changed since)
        "{params.python} -m hscnet train --features {input.features} --text {input.text} --train {input.train} --val {input.val}"
        " --preset {params.preset} {params.ablation} {params.crop} {params.epochs} {params.batch_size} --iou {params.iou}"
        " --seed {params.seed} --device {params.device} --precision {params.precision} --num-workers {params.num_workers} --threads {threads}"
        " --out {params.out} --resume 2> {log}"


use rule train as train_seed with:
    output:
        best="results/{dataset}/seeds/{seed}/runs/{run}/best.pt",
        last="results/{dataset}/seeds/{seed}/runs/{run}/last.pt",
        history="results/{dataset}/seeds/{seed}/runs/{run}/history.csv",
        config="results/{dataset}/seeds/{seed}/runs/{run}/config.json",
    log:
        "logs/{dataset}/seeds/{seed}/train_{run}.log",
    benchmark:
        "benchmarks/{dataset}/seeds/{seed}/train_{run}.tsv"
    params:
        seed=lambda w: w.seed,
