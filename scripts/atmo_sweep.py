from compgen.atmo.data import read_split
from compgen.atmo.study import sweep_evaluate_job
from compgen.registry import ATMO_SWEEP_MODEL, keyed_inputs
from compgen.training import use_threads
from compgen.workflow import job

with job(snakemake):
    use_threads(snakemake.threads)
    models = keyed_inputs(snakemake.input, ATMO_SWEEP_MODEL, fixed=["split"])
    sweep_evaluate_job(read_split(snakemake.input.split), snakemake.params.cfg, models, snakemake.output)
