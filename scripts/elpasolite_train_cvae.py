from compgen.elpasolite.study import train_cvae_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    train_cvae_job(read_table(snakemake.input[0]), snakemake.params.settings, int(snakemake.wildcards.seed), snakemake.output[0], snakemake.threads)
