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


rule elpasolite_train_cvae:
    input:
        "results/datasets/elpasolite_dft.parquet",
    output:
        "results/elpasolite/models/cvae_seed{seed}.pt",
    log:
        "logs/elpasolite/train_cvae_seed{seed}.log",
    benchmark:
        "benchmarks/elpasolite/train_cvae_seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=2000,
        runtime=30,
    params:
        settings=config["elpasolite"]["cvae"],
    script:
        "../scripts/elpasolite_train_cvae.py"


rule elpasolite_evaluate:
    input:
        unpack(elpasolite_model_files),
        dft="results/datasets/elpasolite_dft.parquet",
        space="results/elpasolite/space.parquet",
    output:
        per_seed="results/elpasolite/metrics_per_seed.csv",
        summary="results/elpasolite/metrics_summary.csv",
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
        mem_mb=6000,
        runtime=30,
    params:
        cfg={k: config["elpasolite"][k] for k in ("targets", "seeds")},
    script:
        "../scripts/elpasolite_evaluate.py"


rule elpasolite:
    input:
        rules.elpasolite_space.output,
        rules.elpasolite_evaluate.output,
