from compgen.atmo.study import pools_from_config, write_split
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    write_split(pools_from_config(read_table(snakemake.input[0]), snakemake.params.cfg), snakemake.output[0])
