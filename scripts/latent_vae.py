from compgen.latent.study import vae_job
from compgen.workflow import job

with job(snakemake):
    vae_job(snakemake.wildcards.vae, dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output, snakemake.threads)
