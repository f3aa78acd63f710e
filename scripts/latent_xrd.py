from compgen.latent.study import xrd_job
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    xrd_job(snakemake.input[0], snakemake.params.cfg, snakemake.output[0], snakemake.threads)
