from compgen.hydrides.study import step1_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    out = snakemake.output
    step1_job(read_table(snakemake.input[0]), snakemake.params.cfg, int(snakemake.wildcards.seed), out.model, out.losses, snakemake.threads)
