# The hydrides study: CrystalGAN (two cross-domain GAN steps with a geometric constraint),
# the generators and the substitution baseline to compare it with, candidates judged by
# command, CHGNet relaxations. Each job gets only the config keys it reads
# (compgen.registry.HYDRIDES_JOB_KEYS), so a changed setting replans only its readers.

HYDRIDES_LOGS = "logs/hydrides"


rule hydrides_step1:
    input:
        "results/datasets/hydrides.parquet",
    output:
        model=hydrides_model_path("step1", "{seed}"),
        losses=f"{HYDRIDES_DIR}/models/step1_seed{{seed}}_losses.csv",
    log:
        f"{HYDRIDES_LOGS}/step1_seed{{seed}}.log",
    benchmark:
        "benchmarks/hydrides/step1_seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=2000,
        runtime=hydrides_train_minutes(),
    params:
        cfg=hydrides_job_config(HYDRIDES, "step1"),
    script:
        "../scripts/hydrides_step1.py"


rule hydrides_step2:
    input:
        dataset="results/datasets/hydrides.parquet",
        step1=hydrides_step1_model,
    output:
        model=hydrides_model_path("{variant}", "{seed}"),
        losses=f"{HYDRIDES_DIR}/models/{{variant}}_seed{{seed}}_losses.csv",
    log:
        f"{HYDRIDES_LOGS}/{{variant}}_seed{{seed}}.log",
    benchmark:
        "benchmarks/hydrides/{variant}_seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=2000,
        runtime=hydrides_train_minutes(),
    params:
        cfg=lambda wildcards: hydrides_job_config(
            HYDRIDES, hydrides_step2_job(wildcards.variant)
        ),
    script:
        "../scripts/hydrides_step2.py"


rule hydrides_noise_gan:
    input:
        dataset="results/datasets/hydrides.parquet",
        step1=hydrides_step1_model,
    output:
        model=hydrides_model_path("noise_gan", "{seed}"),
        losses=f"{HYDRIDES_DIR}/models/noise_gan_seed{{seed}}_losses.csv",
    log:
        f"{HYDRIDES_LOGS}/noise_gan_seed{{seed}}.log",
    benchmark:
        "benchmarks/hydrides/noise_gan_seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=2000,
        runtime=hydrides_train_minutes(),
    params:
        cfg=hydrides_job_config(HYDRIDES, "noise_gan"),
    script:
        "../scripts/hydrides_noise_gan.py"


rule hydrides_candidates:
    input:
        unpack(hydrides_model_files),
        dataset="results/datasets/hydrides.parquet",
    output:
        candidates=f"{HYDRIDES_DIR}/candidates.parquet",
        table2=report(
            f"{HYDRIDES_DIR}/table2.csv",
            caption="../report/hydrides/table2.rst",
            category="hydrides",
        ),
        table2_per_seed=f"{HYDRIDES_DIR}/table2_per_seed.csv",
        comparisons=report(
            f"{HYDRIDES_DIR}/comparisons.csv",
            caption="../report/hydrides/comparisons.rst",
            category="hydrides",
        ),
        structures=directory(f"{HYDRIDES_DIR}/structures/generated"),
        table2_png=report(
            f"{HYDRIDES_DIR}/figures/table2.png",
            caption="../report/hydrides/table2_bars.rst",
            category="hydrides",
        ),
        table2_csv=f"{HYDRIDES_DIR}/figures/table2.csv",
        distances_png=report(
            f"{HYDRIDES_DIR}/figures/first_neighbour_distances.png",
            caption="../report/hydrides/first_neighbour_distances.rst",
            category="hydrides",
        ),
        distances_csv=f"{HYDRIDES_DIR}/figures/first_neighbour_distances.csv",
    log:
        f"{HYDRIDES_LOGS}/candidates.log",
    benchmark:
        "benchmarks/hydrides/candidates.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=hydrides_job_config(HYDRIDES, "candidates"),
    script:
        "../scripts/hydrides_candidates.py"


rule hydrides_relax_known:
    input:
        "results/datasets/hydrides.parquet",
    output:
        f"{HYDRIDES_DIR}/relaxed_known.parquet",
    log:
        f"{HYDRIDES_LOGS}/relax_known.log",
    benchmark:
        "benchmarks/hydrides/relax_known.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        # measured 6 GB at peak: the high-pressure PdH6 cell grows under CHGNet
        mem_mb=8000,
        runtime=hydrides_relax_minutes(75),
    params:
        cfg=hydrides_job_config(HYDRIDES, "relax_known"),
    script:
        "../scripts/hydrides_relax_known.py"


rule hydrides_relax:
    input:
        candidates=f"{HYDRIDES_DIR}/candidates.parquet",
        known=f"{HYDRIDES_DIR}/relaxed_known.parquet",
    output:
        relaxed=f"{HYDRIDES_DIR}/relaxed_candidates.parquet",
        known=f"{HYDRIDES_DIR}/relaxed_known.csv",
        sun=report(
            f"{HYDRIDES_DIR}/sun.csv",
            caption="../report/hydrides/sun.rst",
            category="hydrides",
        ),
        structures=directory(f"{HYDRIDES_DIR}/structures/relaxed"),
        hull_png=report(
            f"{HYDRIDES_DIR}/figures/hull.png",
            caption="../report/hydrides/hull.rst",
            category="hydrides",
        ),
        hull_csv=f"{HYDRIDES_DIR}/figures/hull.csv",
        best_png=report(
            f"{HYDRIDES_DIR}/figures/best_candidates.png",
            caption="../report/hydrides/best_candidates.rst",
            category="hydrides",
        ),
        best_csv=f"{HYDRIDES_DIR}/figures/best_candidates.csv",
    log:
        f"{HYDRIDES_LOGS}/relax.log",
    benchmark:
        "benchmarks/hydrides/relax.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=hydrides_relax_minutes(
            len(HYDRIDES["seeds"])
            * len(HYDRIDES["relax"]["generators"])
            * min(70, HYDRIDES["relax"]["max_per_run"] or 70)
        ),
    params:
        cfg=hydrides_job_config(HYDRIDES, "relax"),
    script:
        "../scripts/hydrides_relax.py"


rule hydrides_figures:
    input:
        unpack(hydrides_loss_files),
    output:
        losses_png=report(
            f"{HYDRIDES_DIR}/figures/loss_curves.png",
            caption="../report/hydrides/loss_curves.rst",
            category="hydrides",
        ),
        losses_csv=f"{HYDRIDES_DIR}/figures/loss_curves.csv",
    log:
        f"{HYDRIDES_LOGS}/figures.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/hydrides_figures.py"


rule hydrides:
    input:
        rules.hydrides_candidates.output,
        rules.hydrides_relax.output,
        rules.hydrides_figures.output,
