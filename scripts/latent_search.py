from compgen.latent.study import search_job
from compgen.workflow import job

with job(snakemake):
    wildcards = snakemake.wildcards
    search_job(wildcards.search_target, wildcards.strategy, snakemake.input[0], snakemake.params.cfg, snakemake.output[0], snakemake.threads)
