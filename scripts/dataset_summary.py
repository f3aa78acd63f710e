from compgen.io import read_table, write_csv
from compgen.plots import dataset_summary
from compgen.registry import DATASETS
from compgen.workflow import job

with job(snakemake):
    names = snakemake.params.datasets
    tables = {n: read_table(p) for n, p in zip(names, snakemake.input.tables, strict=True)}
    rejects = {n: read_table(p) for n, p in zip(names, snakemake.input.rejects, strict=True)}
    summary = dataset_summary(tables, rejects, {n: DATASETS[n]["values"] for n in names})
    write_csv(summary, snakemake.output[0])
