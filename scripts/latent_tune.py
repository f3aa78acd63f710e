from compgen.latent.study import tune_job
from compgen.workflow import job

with job(snakemake):
    tune_job(snakemake.wildcards.vae, dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output[0], snakemake.threads)
