from compgen.latent.study import figures_job
from compgen.training import use_threads
from compgen.workflow import job

with job(snakemake):
    use_threads(snakemake.threads)
    figures_job(dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output)
