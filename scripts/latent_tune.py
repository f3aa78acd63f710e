from compgen.latent.study import tune_job
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    tune_job(snakemake.wildcards.vae, dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output[0], snakemake.threads)
