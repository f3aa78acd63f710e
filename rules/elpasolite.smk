# The elpasolite study: the enumerated space, its rebuilt oracle, classes and metrics.


rule elpasolite_space:
    input:
        "results/datasets/elpasolite_dft.parquet",
    output:
        space="results/elpasolite/space.parquet",
        class_table="results/elpasolite/class_table.npy",
        classes="results/elpasolite/class_sizes.csv",
        oracle_metrics="results/elpasolite/oracle_metrics.csv",
        oracle_search="results/elpasolite/oracle_search.csv",
        oracle_json="results/elpasolite/oracle.json",
        oracle_png="results/elpasolite/figures/oracle_learning_curve.png",
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
        cfg=config["elpasolite"]["oracle"],
    script:
        "../scripts/elpasolite_space.py"


rule elpasolite_train:
    input:
        "results/datasets/elpasolite_dft.parquet",
    output:
        "results/elpasolite/models/{n_train}/{generator}_seed{seed}.pt",
    log:
        "logs/elpasolite/train/{n_train}/{generator}_seed{seed}.log",
    benchmark:
        "benchmarks/elpasolite/train/{n_train}/{generator}_seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=3000,
        runtime=elpasolite_runtime_minutes(paper_scale=1440),
    params:
        settings=elpasolite_generator_settings,
    script:
        "../scripts/elpasolite_train.py"


rule elpasolite_evaluate:
    input:
        unpack(elpasolite_model_files),
        dft="results/datasets/elpasolite_dft.parquet",
        space="results/elpasolite/space.parquet",
    output:
        per_seed="results/elpasolite/metrics_per_seed.csv",
        summary="results/elpasolite/metrics_summary.csv",
        charge_balance="results/elpasolite/charge_balance.csv",
        energy_png="results/elpasolite/figures/sample_energies.png",
        energy_csv="results/elpasolite/figures/sample_energies.csv",
        sites_png="results/elpasolite/figures/site_distributions.png",
        sites_csv="results/elpasolite/figures/site_distributions.csv",
        discovery_png="results/elpasolite/figures/discovery_curves.png",
        discovery_csv="results/elpasolite/figures/discovery_curves.csv",
    log:
        "logs/elpasolite/evaluate.log",
    benchmark:
        "benchmarks/elpasolite/evaluate.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=elpasolite_runtime_minutes(paper_scale=1440),
    params:
        cfg=lambda wildcards: {k: elpasolite_config()[k] for k in ("targets", "seeds")},
    script:
        "../scripts/elpasolite_evaluate.py"


rule elpasolite_training_size:
    input:
        unpack(elpasolite_sweep_files),
        dft="results/datasets/elpasolite_dft.parquet",
        space="results/elpasolite/space.parquet",
    output:
        per_seed="results/elpasolite/training_size_per_seed.csv",
        png="results/elpasolite/figures/training_size.png",
        csv="results/elpasolite/figures/training_size.csv",
    log:
        "logs/elpasolite/training_size.log",
    benchmark:
        "benchmarks/elpasolite/training_size.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=elpasolite_runtime_minutes(paper_scale=600),
    params:
        cfg=lambda wildcards: {"targets": elpasolite_config()["targets"][:1]},
    script:
        "../scripts/elpasolite_training_size.py"


rule elpasolite:
    input:
        rules.elpasolite_space.output,
        rules.elpasolite_evaluate.output,
        rules.elpasolite_training_size.output,
