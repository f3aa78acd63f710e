import pandas as pd

from compgen.atmo.plots import delta_distributions, loss_curves, nsample_curve
from compgen.registry import ATMO_MODEL, keyed_inputs
from compgen.workflow import job

with job(snakemake):
    out = snakemake.output
    delta_distributions(pd.read_parquet(snakemake.input.deltas), out.delta_png, out.delta_csv)
    nsample_curve(pd.read_csv(snakemake.input.nsample_curve), out.nsample_png, out.nsample_csv)
    losses = keyed_inputs(snakemake.input, ATMO_MODEL, fixed=["deltas", "nsample_curve"])
    loss_curves(losses, out.losses_png, out.losses_csv)
