# Raw files -> verified copies -> typed parquet datasets, their figures and a summary.


rule fetch:
    output:
        "results/raw/{source}",
    log:
        "logs/fetch/{source}.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        source=lambda wildcards: SOURCES[wildcards.source],
    script:
        "../scripts/fetch.py"


rule raw:
    input:
        expand(raw_path("{source}"), source=SOURCES),


rule dataset:
    input:
        unpack(dataset_raw_inputs),
    output:
        table="results/datasets/{dataset}.parquet",
        rejects="results/datasets/{dataset}.rejects.parquet",
    log:
        "logs/datasets/{dataset}.log",
    benchmark:
        "benchmarks/datasets/{dataset}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/build_dataset.py"


rule dataset_figure:
    input:
        "results/datasets/{dataset}.parquet",
    output:
        png=report(
            "results/datasets/figures/{dataset}.png",
            caption="../report/datasets/dataset.rst",
            category="datasets",
        ),
        elements="results/datasets/figures/{dataset}_elements.csv",
        values="results/datasets/figures/{dataset}_values.csv",
    log:
        "logs/datasets/{dataset}_figure.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        values=lambda wildcards: DATASETS[wildcards.dataset]["values"],
    script:
        "../scripts/dataset_figure.py"


rule dataset_summary:
    input:
        tables=expand("results/datasets/{dataset}.parquet", dataset=DATASETS),
        rejects=expand("results/datasets/{dataset}.rejects.parquet", dataset=DATASETS),
    output:
        report(
            "results/datasets/summary.csv",
            caption="../report/datasets/summary.rst",
            category="datasets",
        ),
    log:
        "logs/datasets/summary.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        datasets=list(DATASETS),
    script:
        "../scripts/dataset_summary.py"


rule datasets:
    input:
        rules.raw.input,
        "results/datasets/summary.csv",
        expand("results/datasets/figures/{dataset}.png", dataset=DATASETS),
