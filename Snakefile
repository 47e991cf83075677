# HSCNet: raw video -> C3D features, paragraphs -> GloVe vectors, train -> evaluate -> tables.
# Main job on the generated demo dataset:  snakemake --cores 2 results/demo/metrics.json
# Real data:                               snakemake --cores 8 results/tacos/metrics.json
# On SLURM (docs/cluster.md):    snakemake --workflow-profile profiles/slurm results/tacos/metrics.json


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/annotations.smk"
include: "workflow/rules/video.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# Light and quick: the driver runs these itself instead of queueing a cluster job for each.
localrules:
    all,
    prepare_annotations,
    tokenize,
    baseline,
    comparison,
    paper_tables,


rule all:
    input:
        "results/demo/metrics.json",
