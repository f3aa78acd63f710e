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


rule elpasolite_baselines:
    input:
        dft="results/datasets/elpasolite_dft.parquet",
        space="results/elpasolite/space.parquet",
    output:
        per_seed="results/elpasolite/baselines_per_seed.csv",
        summary="results/elpasolite/baselines_summary.csv",
    log:
        "logs/elpasolite/baselines.log",
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg={k: config["elpasolite"][k] for k in ("targets", "seeds")},
    script:
        "../scripts/elpasolite_baselines.py"


rule elpasolite:
    input:
        rules.elpasolite_space.output,
        rules.elpasolite_baselines.output,
