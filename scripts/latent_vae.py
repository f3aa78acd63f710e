from compgen.latent.study import vae_job
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    vae_job(snakemake.wildcards.vae, dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output, snakemake.threads)
