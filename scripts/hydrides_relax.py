from compgen.hydrides.study import relax_candidates_job
from compgen.workflow import job

with job(snakemake):
    relax_candidates_job(snakemake.input.candidates, snakemake.input.known, snakemake.params.cfg, snakemake.output, snakemake.threads)
