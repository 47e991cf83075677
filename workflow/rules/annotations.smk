rule prepare_annotations:
    """Normalise one split's annotation file to paragraph JSON (seconds, release sentence order, chunked)."""
    input:
        raw_annotation,
    output:
        "results/{dataset}/annotations/{split}.json",
    log:
        "logs/{dataset}/prepare_annotations_{split}.log",
    benchmark:
        "benchmarks/{dataset}/prepare_annotations_{split}.tsv"
    wildcard_constraints:
        split="train|val|test",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fmt=lambda w: ds(w)["annotation_format"],
        max_sentences=lambda w: ds(w)["max_sentences"],
    shell:
        "python -m hscnet prepare-annotations --format {params.fmt} --input {input} --split {wildcards.split}"
        " --max-sentences {params.max_sentences} --output {output} 2> {log}"
