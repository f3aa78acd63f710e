# The elpasolite study: the enumerated space, its rebuilt oracle, classes, generators,
# their samples (written once) and the metrics and figures read from them.


rule elpasolite_space:
    input:
        "results/datasets/elpasolite_dft.parquet",
    output:
        space="results/elpasolite/space.parquet",
        class_table="results/elpasolite/class_table.npy",
        classes=report(
            "results/elpasolite/class_sizes.csv",
            caption="../report/elpasolite/class_sizes.rst",
            category="elpasolite",
            subcategory="oracle and space",
        ),
        oracle_metrics="results/elpasolite/oracle_metrics.csv",
        oracle_search="results/elpasolite/oracle_search.csv",
        oracle_json="results/elpasolite/oracle.json",
        oracle_png=report(
            "results/elpasolite/figures/oracle_learning_curve.png",
            caption="../report/elpasolite/oracle_learning_curve.rst",
            category="elpasolite",
            subcategory="oracle and space",
        ),
    log:
        "logs/elpasolite/space.log",
    benchmark:
        "benchmarks/elpasolite/space.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=12000,
        runtime=30,
    params:
        cfg=ELPASOLITE["oracle"],
    script:
        "../scripts/elpasolite_space.py"


rule elpasolite_train:
    input:
        "results/datasets/elpasolite_dft.parquet",
    output:
        elpasolite_model_path("{generator}", "{n_train}", "{seed}"),
    log:
        "logs/elpasolite/train/{n_train}/{generator}_seed{seed}.log",
    benchmark:
        "benchmarks/elpasolite/train/{n_train}/{generator}_seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    # These small networks leave a second thread mostly idle: two jobs side by side on one
    # thread each finish 1.3-1.7x sooner than one after the other on two (bench/elpasolite_train_threads.py --updates 3000).
    threads: 1
    resources:
        gpu=1,
        mem_mb=3000,
        runtime=elpasolite_train_minutes,
    params:
        settings=elpasolite_generator_settings,
    script:
        "../scripts/elpasolite_train.py"


rule elpasolite_sample:
    input:
        unpack(elpasolite_sample_inputs),
    output:
        elpasolite_samples_path("{sampler}", "{n_train}", "{target}", "{seed}"),
    log:
        "logs/elpasolite/samples/{n_train}/class{target}/{sampler}_seed{seed}.log",
    conda:
        "../envs/torch.yaml"
    # Two sampling jobs side by side on one thread each finish 1.4-1.6x sooner than one after
    # the other on two (bench/elpasolite_train_threads.py --samples 5000000).
    threads: 1
    resources:
        mem_mb=4000,
        runtime=lambda wildcards: elpasolite_samples_minutes(
            elpasolite_target_samples(wildcards)
        ),
    params:
        n_samples=elpasolite_target_samples,
    script:
        "../scripts/elpasolite_sample.py"


rule elpasolite_evaluate:
    input:
        unpack(elpasolite_sample_files),
        dft="results/datasets/elpasolite_dft.parquet",
        space="results/elpasolite/space.parquet",
        class_table="results/elpasolite/class_table.npy",
    output:
        per_seed="results/elpasolite/metrics_per_seed.csv",
        summary=report(
            "results/elpasolite/metrics_summary.csv",
            caption="../report/elpasolite/metrics_summary.rst",
            category="elpasolite",
            subcategory="generators",
        ),
        charge_balance="results/elpasolite/charge_balance.csv",
    log:
        "logs/elpasolite/evaluate.log",
    benchmark:
        "benchmarks/elpasolite/evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=lambda wildcards: elpasolite_reader_minutes(
            elpasolite_sample_files(wildcards)
        ),
    params:
        cfg={key: ELPASOLITE[key] for key in ("targets", "seeds")},
    script:
        "../scripts/elpasolite_evaluate.py"


rule elpasolite_figures:
    input:
        unpack(elpasolite_sample_files),
        dft="results/datasets/elpasolite_dft.parquet",
        space="results/elpasolite/space.parquet",
        class_table="results/elpasolite/class_table.npy",
    output:
        energy_png=report(
            "results/elpasolite/figures/sample_energies.png",
            caption="../report/elpasolite/sample_energies.rst",
            category="elpasolite",
            subcategory="generators",
        ),
        energy_csv="results/elpasolite/figures/sample_energies.csv",
        sites_png=report(
            "results/elpasolite/figures/site_distributions.png",
            caption="../report/elpasolite/site_distributions.rst",
            category="elpasolite",
            subcategory="generators",
        ),
        sites_csv="results/elpasolite/figures/site_distributions.csv",
        discovery_png=report(
            "results/elpasolite/figures/discovery_curves.png",
            caption="../report/elpasolite/discovery_curves.rst",
            category="elpasolite",
            subcategory="generators",
        ),
        discovery_csv="results/elpasolite/figures/discovery_curves.csv",
    log:
        "logs/elpasolite/figures.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=8000,
        runtime=lambda wildcards: elpasolite_reader_minutes(
            elpasolite_sample_files(wildcards)
        ),
    params:
        cfg={key: ELPASOLITE[key] for key in ("targets", "seeds")},
    script:
        "../scripts/elpasolite_figures.py"


rule elpasolite_training_size:
    input:
        unpack(elpasolite_sweep_sample_files),
        dft="results/datasets/elpasolite_dft.parquet",
        space="results/elpasolite/space.parquet",
        class_table="results/elpasolite/class_table.npy",
    output:
        per_seed="results/elpasolite/training_size_per_seed.csv",
        png=report(
            "results/elpasolite/figures/training_size.png",
            caption="../report/elpasolite/training_size.rst",
            category="elpasolite",
            subcategory="generators",
        ),
        csv="results/elpasolite/figures/training_size.csv",
    log:
        "logs/elpasolite/training_size.log",
    benchmark:
        "benchmarks/elpasolite/training_size.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=lambda wildcards: elpasolite_reader_minutes(
            elpasolite_sweep_sample_files(wildcards)
        ),
    params:
        cfg={"targets": ELPASOLITE["targets"][:1]},
    script:
        "../scripts/elpasolite_training_size.py"


rule elpasolite:
    input:
        rules.elpasolite_space.output,
        rules.elpasolite_evaluate.output,
        rules.elpasolite_figures.output,
        rules.elpasolite_training_size.output,
