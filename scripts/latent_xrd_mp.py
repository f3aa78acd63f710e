from compgen.latent.study import xrd_job
from compgen.workflow import job

with job(snakemake):
    xrd_job(snakemake.input[0], snakemake.params.cfg, snakemake.output[0], snakemake.threads, dataset="mp_structures")
