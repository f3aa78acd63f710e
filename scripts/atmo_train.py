from pathlib import Path

from compgen.atmo.data import read_split
from compgen.atmo.study import ModelSpec, train_job
from compgen.registry import ATMO_MODEL
from compgen.workflow import job

with job(snakemake):
    specs = [
        ModelSpec(*ATMO_MODEL.parse(Path(model).stem), output=model, losses=losses)
        for model, losses in zip(snakemake.output.model, snakemake.output.losses, strict=True)
    ]
    train_job(read_split(snakemake.input[0]), snakemake.params.cfg, specs, snakemake.threads)
