from compgen.latent.study import property_job
from compgen.workflow import job

with job(snakemake):
    wildcards = snakemake.wildcards
    property_job(wildcards.task, wildcards.features, dict(snakemake.input.items()), snakemake.params.cfg, snakemake.output, snakemake.threads)
