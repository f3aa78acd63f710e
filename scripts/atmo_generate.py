import re

import torch

from compgen.atmo.study import generate_job
from compgen.io import read_table
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    models = {}
    for key, path in snakemake.input.items():
        match = re.fullmatch(r"(\w+?)_fold(\d+)_seed(\d+)", key)
        if match:
            models[(match[1], int(match[2]), int(match[3]))] = path
    generate_job(read_table(snakemake.input.atmo), snakemake.params.cfg, models, snakemake.output[0])
