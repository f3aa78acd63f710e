from pathlib import Path

from compgen.atmo.data import read_split
from compgen.atmo.study import ModelSpec, sweep_fold, train_job
from compgen.registry import ATMO_SWEEP_MODEL
from compgen.workflow import job

with job(snakemake):
    cfg = snakemake.params.cfg
    specs = []
    for model, losses in zip(snakemake.output.model, snakemake.output.losses, strict=True):
        fraction, unpaired, seed = ATMO_SWEEP_MODEL.parse(Path(model).stem)
        specs.append(ModelSpec("augcyc", sweep_fold(seed, cfg), seed, model, losses, float(fraction), unpaired == "with"))
    train_job(read_split(snakemake.input[0]), cfg, specs, snakemake.threads)
