from compgen.atmo.data import read_split
from compgen.atmo.study import sweep_fold, train_job
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    seed = int(snakemake.wildcards.seed)
    train_job(
        read_split(snakemake.input[0]),
        snakemake.params.cfg,
        "augcyc",
        sweep_fold(seed, snakemake.params.cfg),
        seed,
        snakemake.output.model,
        snakemake.output.losses,
        snakemake.threads,
        paired_fraction=float(snakemake.wildcards.fraction),
        with_unpaired=snakemake.wildcards.unpaired == "with",
    )
