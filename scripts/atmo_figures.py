import re

import pandas as pd

from compgen.atmo.plots import delta_distributions, loss_curves, nsample_curve
from compgen.workflow import job_logging

with job_logging(snakemake.log[0]):
    out = snakemake.output
    delta_distributions(pd.read_parquet(snakemake.input.deltas), out.delta_png, out.delta_csv)
    nsample_curve(pd.read_csv(snakemake.input.nsample_curve), out.nsample_png, out.nsample_csv)
    losses = {k: v for k, v in snakemake.input.items() if re.fullmatch(r"\w+_fold\d+_seed\d+", k)}
    loss_curves(losses, out.losses_png, out.losses_csv)
