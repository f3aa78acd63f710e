from compgen.elpasolite.study import baselines_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    baselines_job(read_table(snakemake.input.dft), snakemake.input.space, snakemake.params.cfg, snakemake.output)
