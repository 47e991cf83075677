rule paper_tables:
    """The paper's Tables 1-4 on one dataset, every ablation row trained with every seed of report.seeds
    (mean ± sd), the paper's numbers beside each row; training curves, Figs. 3-4 and one HTML page."""
    input:
        unpack(report_inputs(["full", *ABLATION_RUNS], curve_runs=["full"])),
        predictions="results/{dataset}/predictions.json",
        annotations="results/{dataset}/annotations/test.json",
        tokens="results/{dataset}/text/tokens.json",
    output:
        tables="results/{dataset}/report/tables.md",
        csv="results/{dataset}/report/tables.csv",
        html="results/{dataset}/report/index.html",
        curves="results/{dataset}/report/curves.png",
        qualitative="results/{dataset}/report/figure3.png",
        figure4="results/{dataset}/report/figure4.png",
    log:
        "logs/{dataset}/paper_tables.log",
    benchmark:
        "benchmarks/{dataset}/paper_tables.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        video_dir=lambda w: ds(w)["video_dir"],  # thumbnails only; figure 4 is drawn without them when absent
        video_extensions=lambda w: " ".join(map(shlex.quote, ds(w)["video_extensions"])),
    shell:
        "python -m hscnet report --dataset {wildcards.dataset} --metrics {input.metrics} --out {output.tables}"
        " --csv {output.csv} --html {output.html} --history {input.history} --curves {output.curves}"
        " --predictions {input.predictions} --annotations {input.annotations} --qualitative {output.qualitative}"
        " --figure4 {output.figure4} --tokens {input.tokens}"
        " --video-dir {params.video_dir} --video-extensions {params.video_extensions} 2> {log}"


use rule paper_tables as comparison with:
    # Full model vs the sentence-level-only ablation (Table 2, SL) vs the uniform prior: the quick look.
    input:
        unpack(report_inputs(["full", "table2-SL"], curve_runs=["full", "table2-SL"])),
        predictions="results/{dataset}/predictions.json",
        annotations="results/{dataset}/annotations/test.json",
        tokens="results/{dataset}/text/tokens.json",
    output:
        tables="results/{dataset}/report/comparison.md",
        csv="results/{dataset}/report/comparison.csv",
        html="results/{dataset}/report/comparison.html",
        curves="results/{dataset}/report/comparison_curves.png",
        qualitative="results/{dataset}/report/qualitative.png",
        figure4="results/{dataset}/report/comparison_figure4.png",
    log:
        "logs/{dataset}/comparison.log",
    benchmark:
        "benchmarks/{dataset}/comparison.tsv"
