# Two reports, one command: the comparison (full model vs the sentence-level-only ablation, Table 2 SL,
# vs the uniform prior) and the paper's Tables 1-4 (every ablation row trained and evaluated).
rule comparison:
    """Full model vs the sentence-level-only ablation (Table 2, SL) vs the uniform prior, with figures."""
    input:
        metrics=[
            "results/{dataset}/metrics.json",
            "results/{dataset}/runs/table2-SL/metrics.json",
            "results/{dataset}/baselines/uniform/metrics.json",
        ],
        history=["results/{dataset}/runs/full/history.csv", "results/{dataset}/runs/table2-SL/history.csv"],
        predictions="results/{dataset}/predictions.json",
        annotations="results/{dataset}/annotations/test.json",
    output:
        tables="results/{dataset}/report/comparison.md",
        curves="results/{dataset}/report/comparison_curves.png",
        qualitative="results/{dataset}/report/qualitative.png",
    log:
        "logs/{dataset}/comparison.log",
    benchmark:
        "benchmarks/{dataset}/comparison.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m hscnet report --dataset {wildcards.dataset} --metrics {input.metrics} --out {output.tables}"
        " --history {input.history} --curves {output.curves}"
        " --predictions {input.predictions} --annotations {input.annotations}"
        " --qualitative {output.qualitative} 2> {log}"


use rule comparison as paper_tables with:
    input:
        metrics=lambda w: [
            f"results/{w.dataset}/metrics.json",
            f"results/{w.dataset}/baselines/uniform/metrics.json",
        ] + [f"results/{w.dataset}/runs/{run}/metrics.json" for run in ABLATION_RUNS],
        history="results/{dataset}/runs/full/history.csv",
        predictions="results/{dataset}/predictions.json",
        annotations="results/{dataset}/annotations/test.json",
    output:
        tables="results/{dataset}/report/tables.md",
        curves="results/{dataset}/report/curves.png",
        qualitative="results/{dataset}/report/figure3.png",
    log:
        "logs/{dataset}/paper_tables.log",
    benchmark:
        "benchmarks/{dataset}/paper_tables.tsv"
