from compgen.elpasolite.study import space_job
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    space_job(read_table(snakemake.input[0]), {"oracle": snakemake.params.cfg}, snakemake.output, snakemake.threads)
