from compgen.atmo.study import split_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    split_job(read_table(snakemake.input[0]), snakemake.params.cfg, snakemake.output[0])
