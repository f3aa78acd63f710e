from compgen.atmo.data import read_split
from compgen.atmo.study import generated_figures
from compgen.io import read_table
from compgen.workflow import job

with job(snakemake):
    generated_figures(read_split(snakemake.input.split), read_table(snakemake.input.generated), snakemake.params.cfg, snakemake.output)
