from compgen.mp_api import extract
from compgen.workflow import job

with job(snakemake):
    extract(snakemake.params.cfg, snakemake.output[0])
