import torch

from compgen.atmo.study import MODEL_KEY, generate_job
from compgen.io import read_table
from compgen.workflow import job_logging, keyed_inputs

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    models = keyed_inputs(snakemake.input, MODEL_KEY)
    generate_job(read_table(snakemake.input.atmo), snakemake.params.cfg, models, snakemake.output[0])
