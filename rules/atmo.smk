# The atmo study: amine swap with (Augmented) CycleGAN, Δ evaluation and figures.

ATMO = config["atmo"]
ATMO_DIR = f"results/atmo/{atmo_pair()}"


rule atmo_split:
    input:
        "results/datasets/atmo.parquet",
    output:
        f"{ATMO_DIR}/split.csv",
    log:
        f"logs/atmo/{atmo_pair()}/split.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=ATMO,
    script:
        "../scripts/atmo_split.py"


rule atmo_train:
    input:
        "results/datasets/atmo.parquet",
    output:
        model=f"{ATMO_DIR}/models/{{model}}_fold{{fold}}_seed{{seed}}.pt",
        losses=f"{ATMO_DIR}/models/{{model}}_fold{{fold}}_seed{{seed}}_losses.csv",
    log:
        f"logs/atmo/{atmo_pair()}/train_{{model}}_fold{{fold}}_seed{{seed}}.log",
    benchmark:
        f"benchmarks/atmo/{atmo_pair()}/train_{{model}}_fold{{fold}}_seed{{seed}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=atmo_runtime_minutes(),
    params:
        cfg=atmo_training_config(),
    script:
        "../scripts/atmo_train.py"


rule atmo_evaluate:
    input:
        unpack(atmo_model_files),
        atmo="results/datasets/atmo.parquet",
    output:
        deltas=f"{ATMO_DIR}/deltas.parquet",
        summary=f"{ATMO_DIR}/delta_summary.csv",
        summary_unseen=f"{ATMO_DIR}/delta_summary_unseen.csv",
        nsample_curve=f"{ATMO_DIR}/nsample_curve.csv",
    log:
        f"logs/atmo/{atmo_pair()}/evaluate.log",
    benchmark:
        f"benchmarks/atmo/{atmo_pair()}/evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=ATMO,
    script:
        "../scripts/atmo_evaluate.py"


rule atmo_generate:
    input:
        unpack(atmo_model_files),
        atmo="results/datasets/atmo.parquet",
    output:
        f"{ATMO_DIR}/generated.parquet",
    log:
        f"logs/atmo/{atmo_pair()}/generate.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=ATMO,
    script:
        "../scripts/atmo_generate.py"


rule atmo_generated_figures:
    input:
        generated=f"{ATMO_DIR}/generated.parquet",
        atmo="results/datasets/atmo.parquet",
    output:
        ratio_png=f"{ATMO_DIR}/figures/element_ratio.png",
        ratio_csv=f"{ATMO_DIR}/figures/element_ratio.csv",
        umap_png=f"{ATMO_DIR}/figures/umap.png",
        umap_csv=f"{ATMO_DIR}/figures/umap.csv",
    log:
        f"logs/atmo/{atmo_pair()}/generated_figures.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=ATMO,
    script:
        "../scripts/atmo_generated_figures.py"


rule atmo_figures:
    input:
        unpack(atmo_loss_files),
        deltas=f"{ATMO_DIR}/deltas.parquet",
        nsample_curve=f"{ATMO_DIR}/nsample_curve.csv",
    output:
        delta_png=f"{ATMO_DIR}/figures/delta_distributions.png",
        delta_csv=f"{ATMO_DIR}/figures/delta_distributions.csv",
        nsample_png=f"{ATMO_DIR}/figures/nsample_curve.png",
        nsample_csv=f"{ATMO_DIR}/figures/nsample_curve.csv",
        losses_png=f"{ATMO_DIR}/figures/loss_curves.png",
        losses_csv=f"{ATMO_DIR}/figures/loss_curves.csv",
    log:
        f"logs/atmo/{atmo_pair()}/figures.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/atmo_figures.py"


rule atmo:
    input:
        rules.atmo_split.output,
        rules.atmo_evaluate.output,
        rules.atmo_figures.output,
        rules.atmo_generated_figures.output,
