# Opt-in, for users with a Materials Project API key (README, "Materials Project data"):
# the summary endpoint paged into a snapshot with its manifest, and the datasets built from
# it. `all` never asks for these unless latent.source is mp_api.


rule mp_extract:
    output:
        MP_API_MANIFEST,
    log:
        "logs/mp_api/extract.log",
    # on the submitting machine: cluster nodes often cannot reach the internet
    localrule: True
    conda:
        "../envs/mp.yaml"
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        cfg=config["mp_api"],
    script:
        "../scripts/mp_extract.py"


rule mp_api_dataset:
    input:
        MP_API_MANIFEST,
    output:
        table="results/datasets/mp_api/{mp_dataset}.parquet",
        rejects="results/datasets/mp_api/{mp_dataset}.rejects.parquet",
    log:
        "logs/datasets/mp_api/{mp_dataset}.log",
    wildcard_constraints:
        mp_dataset="|".join(MP_API_DATASETS),
    conda:
        "../envs/mp.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/mp_api_dataset.py"


rule mp_api_datasets:
    input:
        expand(
            "results/datasets/mp_api/{mp_dataset}.parquet", mp_dataset=MP_API_DATASETS
        ),
