# The reproduction scorecard: the papers' headline numbers (resources/<study>_paper.yaml)
# beside ours, read from the studies' result files; the report's first table.


rule scorecard:
    input:
        scorecard_inputs(),
    output:
        table=report(
            "results/scorecard.csv",
            caption="../report/scorecard/scorecard.rst",
            category="0. scorecard",
        ),
        front="results/scorecard_front.csv",
        summary="results/scorecard_summary.csv",
        beyond=report(
            "results/scorecard_beyond.csv",
            caption="../report/scorecard/beyond.rst",
            category="0. scorecard",
        ),
    log:
        "logs/scorecard.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        resources=RESOURCES_DIR,
        placeholders={"pair": atmo_pair()},
        config=config,
    script:
        "../scripts/scorecard.py"
