# The latent study (Korolev et al., SI): composition and XRD VAEs, property models on
# the joint latent space, and a race of search strategies answered by real perovskites.

LATENT_LOGS = f"logs/{LATENT_NAME}"
LATENT_BENCHMARKS = f"benchmarks/{LATENT_NAME}"


rule latent_xrd:
    input:
        LATENT_DATASETS["perovskites"],
    output:
        f"{LATENT_DIR}/xrd.parquet",
    log:
        f"{LATENT_LOGS}/xrd.log",
    benchmark:
        f"{LATENT_BENCHMARKS}/xrd.tsv"
    priority: 10
    conda:
        "../envs/torch.yaml"
    # one worker: the patterns and the XRD VAE then run beside the longer composition VAE
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=latent_params("xrd"),
    script:
        "../scripts/latent_xrd.py"


# Source mp_api: the MP structures' patterns, which the XRD VAE learns from as in the SI.
rule latent_xrd_mp:
    input:
        mp_api_dataset("mp_structures"),
    output:
        f"{LATENT_DIR}/xrd_mp.parquet",
    log:
        f"{LATENT_LOGS}/xrd_mp.log",
    benchmark:
        f"{LATENT_BENCHMARKS}/xrd_mp.tsv"
    priority: 10
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        # 27 patterns per second per core at 40 sites (bench/xrd_rate.py), three times over
        runtime=lambda wildcards: runtime_minutes(
            LATENT["mp_structures"] or 160000, 1 / 27
        ),
    params:
        cfg=latent_params("xrd"),
    script:
        "../scripts/latent_xrd_mp.py"


rule latent_vae:
    input:
        unpack(latent_vae_inputs),
    output:
        model=f"{LATENT_DIR}/models/{{vae}}_vae.pt",
        losses=f"{LATENT_DIR}/models/{{vae}}_vae_losses.csv",
        dimensions=f"{LATENT_DIR}/{{vae}}_latent_dimensions.csv",
        reconstruction=report(
            f"{LATENT_DIR}/{{vae}}_reconstruction.csv",
            caption="../report/latent/vae_reconstruction.rst",
            category="latent",
            subcategory="representations",
        ),
    log:
        f"{LATENT_LOGS}/{{vae}}_vae.log",
    benchmark:
        f"{LATENT_BENCHMARKS}/{{vae}}_vae.tsv"
    priority: 10
    conda:
        "../envs/torch.yaml"
    # One thread each: on two cores the two VAEs train side by side (the composition VAE's small
    # layers gain little from a second thread), and before the many short jobs that wait on them.
    threads: 1
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=latent_vae_minutes,
    params:
        cfg=latent_vae_params,
    script:
        "../scripts/latent_vae.py"


rule latent_encode:
    input:
        **LATENT_DATASETS,
        **({"xrd_mp": LATENT_XRD_TRAINING} if LATENT_FROM_MP_API else {}),
        xrd=f"{LATENT_DIR}/xrd.parquet",
        composition_vae=f"{LATENT_DIR}/models/composition_vae.pt",
        xrd_vae=f"{LATENT_DIR}/models/xrd_vae.pt",
    output:
        **latent_encode_outputs(),
    log:
        f"{LATENT_LOGS}/encode.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        cfg=latent_params(),
    script:
        "../scripts/latent_encode.py"


rule latent_property:
    input:
        **LATENT_DATASETS,
        **latent_latents(),
    output:
        predictions=f"{LATENT_DIR}/properties/{{task}}_{{features}}.parquet",
        folds=f"{LATENT_DIR}/properties/{{task}}_{{features}}_folds.csv",
    log:
        f"{LATENT_LOGS}/properties/{{task}}_{{features}}.log",
    benchmark:
        f"{LATENT_BENCHMARKS}/properties/{{task}}_{{features}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        cfg=latent_params("properties"),
    script:
        "../scripts/latent_property.py"


rule latent_properties:
    input:
        unpack(lambda wildcards: latent_property_files("folds")),
        unpack(
            lambda wildcards: {
                f"predictions_{key}": path
                for key, path in latent_property_files("predictions").items()
            }
        ),
    output:
        table=report(
            f"{LATENT_DIR}/property_models.csv",
            caption="../report/latent/property_models.rst",
            category="latent",
            subcategory="property models",
        ),
        parity_png=report(
            f"{LATENT_DIR}/figures/parity.png",
            caption="../report/latent/parity.rst",
            category="latent",
            subcategory="property models",
        ),
        parity_csv=f"{LATENT_DIR}/figures/parity.csv",
        roc_png=report(
            f"{LATENT_DIR}/figures/roc.png",
            caption="../report/latent/roc.rst",
            category="latent",
            subcategory="property models",
        ),
        roc_csv=f"{LATENT_DIR}/figures/roc.csv",
    log:
        f"{LATENT_LOGS}/properties.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        cfg=latent_params(),
    script:
        "../scripts/latent_properties.py"


rule latent_search:
    input:
        f"{LATENT_DIR}/perovskite_latents.parquet",
    output:
        f"{LATENT_DIR}/search/{{search_target}}_{{strategy}}.parquet",
    log:
        f"{LATENT_LOGS}/search/{{search_target}}_{{strategy}}.log",
    benchmark:
        f"{LATENT_BENCHMARKS}/search/{{search_target}}_{{strategy}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=latent_search_minutes,
    params:
        cfg=latent_race_params,
    script:
        "../scripts/latent_search.py"


rule latent_test_function:
    output:
        f"{LATENT_DIR}/test_functions/{{function}}.parquet",
    log:
        f"{LATENT_LOGS}/test_functions/{{function}}.log",
    benchmark:
        f"{LATENT_BENCHMARKS}/test_functions/{{function}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=latent_test_function_params,
    script:
        "../scripts/latent_test_function.py"


rule latent_search_summary:
    input:
        unpack(latent_search_files),
        perovskites=f"{LATENT_DIR}/perovskite_latents.parquet",
        test_functions=expand(
            f"{LATENT_DIR}/test_functions/{{function}}.parquet",
            function=LATENT["search"]["test_functions"]["functions"],
        ),
    output:
        summary=report(
            f"{LATENT_DIR}/search_summary.csv",
            caption="../report/latent/search_summary.rst",
            category="latent",
            subcategory="search race",
        ),
        verdicts=report(
            f"{LATENT_DIR}/search_verdicts.csv",
            caption="../report/latent/search_verdicts.rst",
            category="latent",
            subcategory="search race",
        ),
        evaluations=f"{LATENT_DIR}/search_evaluations.csv",
        top_png=report(
            f"{LATENT_DIR}/figures/top_reached.png",
            caption="../report/latent/top_reached.rst",
            category="latent",
            subcategory="search race",
        ),
        top_csv=f"{LATENT_DIR}/figures/top_reached.csv",
        curves_png=report(
            f"{LATENT_DIR}/figures/best_so_far.png",
            caption="../report/latent/best_so_far.rst",
            category="latent",
            subcategory="search race",
        ),
        curves_csv=f"{LATENT_DIR}/figures/best_so_far.csv",
        test_functions_png=report(
            f"{LATENT_DIR}/figures/test_functions.png",
            caption="../report/latent/test_functions.rst",
            category="latent",
            subcategory="search race",
        ),
        test_functions_csv=f"{LATENT_DIR}/figures/test_functions.csv",
        seconds_png=report(
            f"{LATENT_DIR}/figures/seconds_per_iteration.png",
            caption="../report/latent/seconds_per_iteration.rst",
            category="latent",
            subcategory="search race",
        ),
        seconds_csv=f"{LATENT_DIR}/figures/seconds_per_iteration.csv",
    log:
        f"{LATENT_LOGS}/search_summary.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=latent_params("search"),
    script:
        "../scripts/latent_search_summary.py"


rule latent_figures:
    input:
        xrd=LATENT_XRD_TRAINING,
        mp_latents=f"{LATENT_DIR}/mp_latents.parquet",
        perovskite_latents=f"{LATENT_DIR}/perovskite_latents.parquet",
        composition_vae=f"{LATENT_DIR}/models/composition_vae.pt",
        xrd_vae=f"{LATENT_DIR}/models/xrd_vae.pt",
        composition_losses=f"{LATENT_DIR}/models/composition_vae_losses.csv",
        xrd_losses=f"{LATENT_DIR}/models/xrd_vae_losses.csv",
    output:
        composition_png=report(
            f"{LATENT_DIR}/figures/composition_tsne.png",
            caption="../report/latent/composition_tsne.rst",
            category="latent",
            subcategory="representations",
        ),
        composition_csv=f"{LATENT_DIR}/figures/composition_tsne.csv",
        xrd_png=report(
            f"{LATENT_DIR}/figures/xrd_tsne.png",
            caption="../report/latent/xrd_tsne.rst",
            category="latent",
            subcategory="representations",
        ),
        xrd_csv=f"{LATENT_DIR}/figures/xrd_tsne.csv",
        xrd_examples_png=report(
            f"{LATENT_DIR}/figures/xrd_reconstructions.png",
            caption="../report/latent/xrd_reconstructions.rst",
            category="latent",
            subcategory="representations",
        ),
        xrd_examples_csv=f"{LATENT_DIR}/figures/xrd_reconstructions.csv",
        composition_examples_png=report(
            f"{LATENT_DIR}/figures/composition_reconstructions.png",
            caption="../report/latent/composition_reconstructions.rst",
            category="latent",
            subcategory="representations",
        ),
        composition_examples_csv=f"{LATENT_DIR}/figures/composition_reconstructions.csv",
        losses_png=report(
            f"{LATENT_DIR}/figures/vae_losses.png",
            caption="../report/latent/vae_losses.rst",
            category="latent",
            subcategory="representations",
        ),
        losses_csv=f"{LATENT_DIR}/figures/vae_losses.csv",
    log:
        f"{LATENT_LOGS}/figures.log",
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        cfg=latent_params("xrd", "embedding"),
    script:
        "../scripts/latent_figures.py"


rule latent:
    input:
        expand(f"{LATENT_DIR}/{{vae}}_reconstruction.csv", vae=["composition", "xrd"]),
        f"{LATENT_DIR}/property_models.csv",
        f"{LATENT_DIR}/search_summary.csv",
        f"{LATENT_DIR}/figures/vae_losses.png",


# Opt-in: hyperopt's TPE over Table S1's ranges, the learning rate, the epochs and (composition)
# the likelihood's atoms; each trial is scored on a validation share of the training rows.
rule latent_tune_vae:
    input:
        unpack(latent_vae_inputs),
    output:
        f"{LATENT_DIR}/tuning/{{vae}}_trials.csv",
    log:
        f"{LATENT_LOGS}/tuning/{{vae}}.log",
    benchmark:
        f"{LATENT_BENCHMARKS}/tuning/{{vae}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=lambda wildcards: runtime_minutes(
            LATENT["tuning"]["n_evals"] * LATENT["tuning"]["epochs"][wildcards.vae][1],
            LATENT_SECONDS_PER_EPOCH[wildcards.vae],
        ),
    params:
        cfg=lambda wildcards: latent_params(f"{wildcards.vae}_vae", "tuning"),
    script:
        "../scripts/latent_tune.py"


rule latent_tune:
    input:
        expand(f"{LATENT_DIR}/tuning/{{vae}}_trials.csv", vae=["composition", "xrd"]),
