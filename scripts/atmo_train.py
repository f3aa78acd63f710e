from compgen.atmo.data import read_split
from compgen.atmo.study import train_job
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    train_job(
        read_split(snakemake.input[0]),
        snakemake.params.cfg,
        snakemake.wildcards.model,
        int(snakemake.wildcards.fold),
        int(snakemake.wildcards.seed),
        snakemake.output.model,
        snakemake.output.losses,
        snakemake.threads,
    )
