import torch

from compgen.elpasolite.study import evaluate_job
from compgen.io import read_table
from compgen.workflow import job_logging, keyed_inputs

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    models = keyed_inputs(snakemake.input, r"(cvae|wgan|dqn_class\d+)_(\d+)")
    evaluate_job(read_table(snakemake.input.dft), snakemake.input.space, snakemake.params.cfg, models, snakemake.output)
