from compgen.hydrides.study import candidates_job
from compgen.io import read_table
from compgen.registry import HYDRIDES_MODEL, keyed_inputs
from compgen.workflow import job

with job(snakemake):
    models = keyed_inputs(snakemake.input, HYDRIDES_MODEL, fixed=["dataset"])
    candidates_job(read_table(snakemake.input.dataset), snakemake.params.cfg, models, snakemake.output)
