import re

import torch

from compgen.atmo.study import sweep_evaluate_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    models = {}
    for key, path in snakemake.input.items():
        match = re.fullmatch(r"(\d\.\d\d)_(with|without)_(\d+)", key)
        if match:
            models[(match[1], match[2], int(match[3]))] = path
    sweep_evaluate_job(read_table(snakemake.input.atmo), snakemake.params.cfg, models, snakemake.output)
