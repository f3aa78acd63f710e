# The atmo study: amine swap with (Augmented) CycleGAN, Δ evaluation and figures.

ATMO_DIR = f"results/atmo/{atmo_pair()}"
ATMO_LOGS = f"logs/atmo/{atmo_pair()}"
ATMO_SPLIT = f"{ATMO_DIR}/split.parquet"


rule atmo_split:
    input:
        "results/datasets/atmo.parquet",
    output:
        ATMO_SPLIT,
    log:
        f"{ATMO_LOGS}/split.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=atmo_params(),
    script:
        "../scripts/atmo_split.py"


# One job per network and fold (atmo.pack: per network) trains its seeds as one stack of models
# (batched matrix products) from atmo.stack_min_models on; one file per model.
rule atmo_train:
    input:
        ATMO_SPLIT,
    output:
        model=atmo_train_files(".pt"),
        losses=atmo_train_files("_losses.csv"),
    log:
        f"{ATMO_LOGS}/train_{ATMO_TRAIN_JOB}.log",
    benchmark:
        f"benchmarks/atmo/{atmo_pair()}/train_{ATMO_TRAIN_JOB}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: ATMO_TRAIN_THREADS
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=atmo_train_minutes(len(atmo_train_files(".pt"))),
    params:
        cfg=atmo_train_params,
    script:
        "../scripts/atmo_train.py"


rule atmo_evaluate:
    input:
        unpack(atmo_model_files),
        split=ATMO_SPLIT,
    output:
        deltas=f"{ATMO_DIR}/deltas.parquet",
        summary=report(
            f"{ATMO_DIR}/delta_summary.csv",
            caption="../report/atmo/delta_summary.rst",
            category="atmo",
            subcategory="translation",
        ),
        summary_unseen=report(
            f"{ATMO_DIR}/delta_summary_unseen.csv",
            caption="../report/atmo/delta_summary_unseen.rst",
            category="atmo",
            subcategory="translation",
        ),
        nsample_curve=f"{ATMO_DIR}/nsample_curve.csv",
    log:
        f"{ATMO_LOGS}/evaluate.log",
    benchmark:
        f"benchmarks/atmo/{atmo_pair()}/evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=atmo_params("evaluation"),
    script:
        "../scripts/atmo_evaluate.py"


rule atmo_generate:
    input:
        unpack(atmo_model_files),
        split=ATMO_SPLIT,
    output:
        f"{ATMO_DIR}/generated.parquet",
    log:
        f"{ATMO_LOGS}/generate.log",
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=atmo_params("evaluation"),
    script:
        "../scripts/atmo_generate.py"


rule atmo_generated_figures:
    input:
        generated=f"{ATMO_DIR}/generated.parquet",
        split=ATMO_SPLIT,
    output:
        ratio_png=report(
            f"{ATMO_DIR}/figures/element_ratio.png",
            caption="../report/atmo/element_ratio.rst",
            category="atmo",
            subcategory="translation",
        ),
        ratio_csv=f"{ATMO_DIR}/figures/element_ratio.csv",
        umap_png=report(
            f"{ATMO_DIR}/figures/umap.png",
            caption="../report/atmo/umap.rst",
            category="atmo",
            subcategory="translation",
        ),
        umap_csv=f"{ATMO_DIR}/figures/umap.csv",
    log:
        f"{ATMO_LOGS}/generated_figures.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        cfg=atmo_params("evaluation"),
    script:
        "../scripts/atmo_generated_figures.py"


rule atmo_figures:
    input:
        unpack(atmo_loss_files),
        deltas=f"{ATMO_DIR}/deltas.parquet",
        nsample_curve=f"{ATMO_DIR}/nsample_curve.csv",
    output:
        delta_png=report(
            f"{ATMO_DIR}/figures/delta_distributions.png",
            caption="../report/atmo/delta_distributions.rst",
            category="atmo",
            subcategory="translation",
        ),
        delta_csv=f"{ATMO_DIR}/figures/delta_distributions.csv",
        nsample_png=report(
            f"{ATMO_DIR}/figures/nsample_curve.png",
            caption="../report/atmo/nsample_curve.rst",
            category="atmo",
            subcategory="translation",
        ),
        nsample_csv=f"{ATMO_DIR}/figures/nsample_curve.csv",
        losses_png=report(
            f"{ATMO_DIR}/figures/loss_curves.png",
            caption="../report/atmo/loss_curves.rst",
            category="atmo",
            subcategory="translation",
        ),
        losses_csv=f"{ATMO_DIR}/figures/loss_curves.csv",
    log:
        f"{ATMO_LOGS}/figures.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/atmo_figures.py"


# One job per sweep point (paired fraction, with or without unpaired data: one pool A, so one
# stack of its seeds); atmo.pack: every model of the sweep in one job, a stack per pool A.
rule atmo_sweep_train:
    input:
        ATMO_SPLIT,
    output:
        model=atmo_sweep_train_files(".pt"),
        losses=atmo_sweep_train_files("_losses.csv"),
    log:
        f"{ATMO_LOGS}/sweep_train{ATMO_SWEEP_JOB}.log",
    benchmark:
        f"benchmarks/atmo/{atmo_pair()}/sweep_train{ATMO_SWEEP_JOB}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: ATMO_TRAIN_THREADS
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=atmo_train_minutes(len(atmo_sweep_train_files(".pt"))),
    params:
        cfg=atmo_params("model", "log_every", "checkpoint_every", "stack_min_models"),
    script:
        "../scripts/atmo_sweep_train.py"


rule atmo_sweep:
    input:
        unpack(atmo_sweep_model_files),
        split=ATMO_SPLIT,
    output:
        csv=f"{ATMO_DIR}/figures/fraction_sweep.csv",
        png=report(
            f"{ATMO_DIR}/figures/fraction_sweep.png",
            caption="../report/atmo/fraction_sweep.rst",
            category="atmo",
            subcategory="translation",
        ),
    log:
        f"{ATMO_LOGS}/sweep.log",
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=atmo_params("evaluation", "fraction_sweep"),
    script:
        "../scripts/atmo_sweep.py"


# Opt-in (not part of `all`): snakemake atmo_tune. Resumes after an interruption.
rule atmo_tune:
    input:
        ATMO_SPLIT,
    output:
        calls=f"{ATMO_DIR}/tuning/calls.csv",
        best=f"{ATMO_DIR}/tuning/best.json",
    log:
        f"{ATMO_LOGS}/tune.log",
    benchmark:
        f"benchmarks/atmo/{atmo_pair()}/tune.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=atmo_tune_minutes(),
    params:
        cfg=atmo_params(
            "model",
            "log_every",
            "checkpoint_every",
            "stack_min_models",
            "evaluation",
            "tuning",
        ),
    script:
        "../scripts/atmo_tune.py"


rule atmo_dimension:
    input:
        "results/datasets/atmo.parquet",
    output:
        accuracy="results/atmo/dimension/cv_accuracy.csv",
        png=report(
            "results/atmo/dimension/cv_accuracy.png",
            caption="../report/atmo/cv_accuracy.rst",
            category="atmo",
            subcategory="dimensionality",
        ),
        params="results/atmo/dimension/best_params.json",
    log:
        "logs/atmo/dimension.log",
    benchmark:
        "benchmarks/atmo/dimension.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg=atmo_params("dimension"),
    script:
        "../scripts/atmo_dimension.py"


rule atmo_tandem:
    input:
        atmo="results/datasets/atmo.parquet",
        split=ATMO_SPLIT,
        model=f"{ATMO_DIR}/models/{ATMO_MODEL.format(model='augcyc', fold=0, seed=ATMO['seeds'][0])}.pt",
        params=rules.atmo_dimension.output.params,
    output:
        bars_png=report(
            f"{ATMO_DIR}/tandem/dimension_shares.png",
            caption="../report/atmo/dimension_shares.rst",
            category="atmo",
            subcategory="dimensionality",
        ),
        bars_csv=f"{ATMO_DIR}/tandem/dimension_shares.csv",
        umap_png=report(
            f"{ATMO_DIR}/tandem/umap.png",
            caption="../report/atmo/tandem_umap.rst",
            category="atmo",
            subcategory="dimensionality",
        ),
        umap_csv=f"{ATMO_DIR}/tandem/umap.csv",
    log:
        f"{ATMO_LOGS}/tandem.log",
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        cfg=atmo_params("dimension", "tandem"),
    script:
        "../scripts/atmo_tandem.py"


rule atmo:
    input:
        rules.atmo_split.output,
        rules.atmo_evaluate.output,
        rules.atmo_figures.output,
        rules.atmo_generated_figures.output,
        rules.atmo_dimension.output,
        rules.atmo_tandem.output,
        rules.atmo_sweep.output,
