from compgen.elpasolite.study import space_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    space_job(read_table(snakemake.input[0]), {"oracle": snakemake.params.cfg}, snakemake.output, snakemake.threads)
