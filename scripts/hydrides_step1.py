from compgen.hydrides.study import step1_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    out = snakemake.output
    step1_job(read_table(snakemake.input[0]), snakemake.params.cfg, int(snakemake.wildcards.seed), out.model, out.losses, snakemake.threads)
