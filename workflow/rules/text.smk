rule tokenize:
    """Tokenise every paragraph (spaCy blank English, lowercased, punctuation dropped)."""
    input:
        lambda w: [prepared(w.dataset, s) for s in SPLITS],
    output:
        "results/{dataset}/text/tokens.json",
    log:
        "logs/{dataset}/tokenize.log",
    benchmark:
        "benchmarks/{dataset}/tokenize.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m hscnet tokenize --annotations {input} --output {output} 2> {log}"


rule convert_vectors:
    """Convert GloVe/word2vec vectors once to gensim's native format (memory-mapped reloads)."""
    input:
        lambda w: vectors_source(w)["glove"],
    output:
        directory("results/vectors/{name}"),
    log:
        "logs/vectors/convert_{name}.log",
    benchmark:
        "benchmarks/vectors/convert_{name}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        fmt=lambda w: vectors_source(w)["glove_format"],
    shell:
        "python -m hscnet glove-convert --input {input} --format {params.fmt} --output {output} 2> {log}"


rule embed_words:
    """Word vectors per paragraph and the word-to-sentence index (the paper's I^S)."""
    input:
        tokens="results/{dataset}/text/tokens.json",
        vectors=converted_vectors,
    output:
        "results/{dataset}/text/glove.h5",
    log:
        "logs/{dataset}/embed_words.log",
    benchmark:
        "benchmarks/{dataset}/embed_words.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        oov=config["text"]["oov"],
    shell:
        "python -m hscnet embed-words --tokens {input.tokens} --vectors {input.vectors} --oov {params.oov}"
        " --output {output} 2> {log}"
