from compgen.atmo.study import dimension_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    dimension_job(read_table(snakemake.input[0]), snakemake.params.cfg, snakemake.output, snakemake.threads)
