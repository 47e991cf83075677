checkpoint demo_data:
    """Generate a demo dataset (raw .mp4 videos, paragraph annotations, GloVe-format vectors)."""
    output:
        train="data/{dataset}/annotations/train.json",
        val="data/{dataset}/annotations/val.json",
        test="data/{dataset}/annotations/test.json",
        glove="data/{dataset}/glove.txt",
    log:
        "logs/{dataset}/demo_data.log",
    benchmark:
        "benchmarks/{dataset}/demo_data.tsv"
    wildcard_constraints:
        dataset=datasets_where(lambda d: d["generate"]),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        size=lambda w: DATASETS[w.dataset]["generate"],
        seed=config["seed"],
    shell:
        "python -m hscnet demo-data --size {params.size} --seed {params.seed} --out data/{wildcards.dataset} --workers {threads} 2> {log}"
