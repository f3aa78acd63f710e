from compgen.atmo.data import read_split
from compgen.atmo.study import tandem_job
from compgen.io import read_table
from compgen.training import use_threads
from compgen.workflow import job

with job(snakemake):
    use_threads(snakemake.threads)
    inputs = snakemake.input
    tandem_job(read_table(inputs.atmo), read_split(inputs.split), snakemake.params.cfg, inputs.model, inputs.params, snakemake.output)
