import torch

from compgen.atmo.study import SWEEP_KEY, sweep_evaluate_job
from compgen.io import read_table
from compgen.workflow import job_logging, keyed_inputs

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    models = keyed_inputs(snakemake.input, SWEEP_KEY)
    sweep_evaluate_job(read_table(snakemake.input.atmo), snakemake.params.cfg, models, snakemake.output)
