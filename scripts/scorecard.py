from compgen.scorecard import scorecard_job
from compgen.workflow import job

with job(snakemake):
    scorecard_job(snakemake.params.resources, "results", snakemake.params.placeholders, snakemake.params.config, snakemake.output)
