# Public inputs of config.yaml's `downloads` table, keyed by the path a dataset config gives them:
# a target that needs a missing one first runs `fetch` (direct address) or `place_by_hand` (none).


localrules:
    fetch,
    place_by_hand,


rule fetch:
    """Download one public input (resumes a partial .part, verified before it is put in place)."""
    output:
        "{download}",
    log:
        "logs/fetch/{download}.log",
    benchmark:
        "benchmarks/fetch/{download}.tsv"
    wildcard_constraints:
        download=one_of(FETCHABLE),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=240,
    params:
        url=lambda w: FETCHABLE[w.download]["url"],
        checks=fetch_checks,
    shell:
        "python -m hscnet fetch --url {params.url:q} {params.checks} --output {output:q} 2> {log}"


rule place_by_hand:
    """Stop with the instructions for an input that has no direct download address."""
    output:
        "{download}",
    log:
        "logs/fetch/{download}.log",
    benchmark:
        "benchmarks/fetch/{download}.tsv"
    wildcard_constraints:
        download=one_of(BY_HAND),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=100,
        runtime=5,
    params:
        instructions=lambda w: BY_HAND[w.download]["instructions"],
    message:
        "{wildcards.download} cannot be downloaded automatically: {params.instructions}"
    shell:
        "python -m hscnet fetch --manual {params.instructions:q} --output {output:q} 2> {log}"
