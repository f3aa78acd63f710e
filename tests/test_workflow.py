"""The workflow as a user runs it: lint, format, and the datasets target on the mirror."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from compgen.datasets import SCHEMAS
from compgen.registry import DATASETS
from conftest import ROOT, run_workflow

EXPECTED_ROWS = {
    "atmo": 3724,
    "elpasolite_dft": 10590,
    "hydrides": 70,
    "perovskites": 7572,
    "mp_e_form": 132752,
    "mp_gap": 106113,
}


def test_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_ruff_finds_nothing():
    """The pinned linter with the project's settings (pyproject.toml: line length 160)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_is_clean():
    files = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", *map(str, files)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def built(tiny_run):
    """The datasets of the tiny run of `all`: the data rules read no study setting."""
    return tiny_run[0] / "results"


def test_dataset_row_and_reject_counts(built):
    summary = pd.read_csv(built / "datasets" / "summary.csv")
    counts = summary.drop_duplicates("dataset").set_index("dataset")
    assert counts["rows"].to_dict() == EXPECTED_ROWS
    assert counts["rejects"].to_dict() == {**{name: 0 for name in EXPECTED_ROWS}, "atmo": 1}
    for name, rows in EXPECTED_ROWS.items():
        assert len(pd.read_parquet(built / "datasets" / f"{name}.parquet")) == rows


def test_tables_carry_their_declared_schema(built):
    import pyarrow.parquet as pq

    for name in DATASETS:
        assert pq.read_schema(built / "datasets" / f"{name}.parquet").remove_metadata() == SCHEMAS[name]


def test_atmo_fractions_sum_to_one_and_only_yiqruo_is_rejected(built):
    atmo = pd.read_parquet(built / "datasets" / "atmo.parquet")
    sums = atmo["fractions"].map(np.sum)
    assert np.abs(sums - 1).max() < 1e-9
    assert all(len(e) == len(f) for e, f in zip(atmo["elements"], atmo["fractions"], strict=True))
    assert (atmo["chemical_system"] == atmo["elements"].map("-".join)).all()
    assert atmo["dimension"].value_counts().to_dict() == {0: 1393, 3: 1087, 2: 732, 1: 512}
    assert (atmo["amine"] == "CNC").sum() == 314 and (atmo["amine"] == "NCCN").sum() == 427
    rejects = pd.read_parquet(built / "datasets" / "atmo.rejects.parquet")
    assert rejects["identifier"].tolist() == ["YIQRUO"]
    assert "'x'" in rejects["reason"][0]


def test_elpasolite_and_hydride_facts(built):
    elpasolites = pd.read_parquet(built / "datasets" / "elpasolite_dft.parquet")
    assert elpasolites["e_form"].min() == pytest.approx(-3.067, abs=1e-3)
    assert elpasolites["e_form"].max() == pytest.approx(5.019, abs=1e-3)
    assert elpasolites[["Z_A", "Z_B", "Z_C", "Z_D"]].stack().nunique() == 39
    hydrides = pd.read_parquet(built / "datasets" / "hydrides.parquet")
    assert hydrides["metal"].value_counts().to_dict() == {"Pd": 35, "Ni": 35}
    assert hydrides["min_distance"].min() >= 0.5
    assert 12.9 < hydrides["cell_volume"].min() and hydrides["cell_volume"].max() < 231
    perovskites = pd.read_parquet(built / "datasets" / "perovskites.parquet")
    assert perovskites["split"].value_counts().to_dict() == {"val": 3787, "test": 3785}
    assert (perovskites["n_atoms"] == 5).all()


def test_figures_and_their_csvs_exist(built):
    for name in DATASETS:
        figures = built / "datasets" / "figures"
        assert (figures / f"{name}.png").stat().st_size > 10_000
        elements = pd.read_csv(figures / f"{name}_elements.csv")
        assert elements["Z"].is_monotonic_increasing
        values = pd.read_csv(figures / f"{name}_values.csv")
        assert set(values["column"]) == set(DATASETS[name]["values"])
        for column in DATASETS[name]["values"]:
            assert values.loc[values["column"] == column, "count"].sum() == EXPECTED_ROWS[name]


def declared_outputs():
    """(rule file, path pattern, caption or None, whether wrapped in report()) of every PNG and CSV a rule writes."""
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r'(report\(\s*)?f?"([^"\n]+\.(?:png|csv))"(,\s*caption="([^"]+)")?', text):
            wrapped, path, _, caption = match.groups()
            if "input:" in text[: match.start()].rsplit("output:", 1)[-1]:
                continue  # read by a later rule, not written
            yield smk, path, caption, bool(wrapped)


def test_every_figure_and_main_table_goes_into_the_report_with_a_caption():
    """Every PNG a rule writes, and each study's main tables, are report() items whose caption file exists."""
    main_tables = {"summary.csv", "delta_summary.csv", "delta_summary_unseen.csv", "metrics_summary.csv", "class_sizes.csv", "table2.csv",
                   "sun.csv", "property_models.csv", "search_summary.csv", "search_verdicts.csv", "{vae}_reconstruction.csv"}  # fmt: skip
    captions, figures = 0, 0
    for smk, path, caption, wrapped in declared_outputs():
        name = path.rsplit("/", 1)[-1].replace("{{", "{").replace("}}", "}")
        if not (path.endswith(".png") or (name in main_tables and "/figures/" not in path)):
            continue
        assert wrapped and caption, f"{smk.name}: {path} is not a report() item with a caption"
        assert (smk.parent / caption).is_file(), f"{smk.name}: caption {caption} of {path} does not exist"
        captions += 1
        figures += path.endswith(".png")
    assert figures >= 30 and captions >= 40
    assert (ROOT / "report" / "workflow.rst").is_file() and 'report: "report/workflow.rst"' in (ROOT / "Snakefile").read_text()


@pytest.mark.e2e
def test_report_of_the_tiny_run_holds_every_figure_and_table_of_every_study(tiny_run, mirror):
    work, config = tiny_run
    result = run_workflow(work, ["all"], config, mirror, "--report", str(work / "report.html"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (work / "report.html").read_text()
    written = [p.relative_to(work).as_posix() for p in (work / "results").rglob("*") if p.is_file()]
    items = [path for _, path, _, wrapped in declared_outputs() if wrapped]
    assert len(items) == 45
    in_report = 0
    for item in items:
        # {ATMO_DIR}, {dataset}, {{vae}}: whatever the tiny run put there
        pattern = re.compile(".+".join(re.escape(part) for part in re.split(r"\{\{?\w+\}?\}", item)))
        files = [path for path in written if pattern.fullmatch(path)]
        assert files, f"the tiny run wrote no file for the report item {item}"
        for path in files:
            assert f'"{path}"' in html, f"{path} is not in the report"
        in_report += len(files)
    assert in_report >= 50  # six dataset figures and two VAE tables among them
    assert "compgen: generative models of chemical compositions" in html  # the front page
    # the scorecard is the front page's first table: a line per study, before the studies' paragraphs
    summary = pd.read_csv(work / "results" / "scorecard_summary.csv", keep_default_na=False)
    assert "Reproduction scorecard" in html and html.index("Reproduction scorecard") < html.index("Studies (categories on the left)")
    assert "reproduced / better / worse" in html and len(summary) == 4
    for line in summary.itertuples(index=False):
        assert f"{line[2]}" in html, line  # the verdict counts of each study, "5 / 0 / 2"
    assert "1,601-point Cu K-alpha" in html and "100 element fractions" in html  # both VAEs' captions, chosen by wildcard
    # the papers' numbers beside ours, one caption of each study
    for number in ["MAE 0.19, RMSE 0.29", "0.0147", "87 / 58 / 54%", "CrystalGAN 4, with the constraint 9"]:
        assert number in html, number


def test_progress_lines_give_count_rate_and_eta_and_count_only_this_runs_work(caplog):
    import logging

    from compgen.workflow import Progress

    ticks = iter([0.0, 2.0, 4.0])
    progress = Progress("relaxations", 10, unit="relaxation", done=4)  # a resumed job: 4 done before
    progress._clock = lambda: next(ticks)
    progress._began = progress._clock()
    with caplog.at_level(logging.INFO, logger="compgen.progress"):
        progress.advance("first")  # 1 in 2 s: 0.5/s, 5 left -> 10 s
        progress.advance_by(3, "more")  # 4 in 4 s: 1/s, 2 left -> 2 s
    assert caplog.messages == [
        "relaxations 5/10 first  (0.50 relaxations/s, ETA 0:00:10)",
        "relaxations 8/10 more  (1.00 relaxations/s, ETA 0:00:02)",
    ]


def test_the_readme_is_short_and_points_at_a_page_per_study():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for page in ["docs/atmo.md", "docs/elpasolite.md", "docs/hydrides.md", "docs/latent.md", "docs/datasets.md", "docs/cluster.md", "docs/gpu.md"]:
        assert f"]({page}" in readme and (ROOT / page).is_file(), page
    for words in ["make run", "make test", "COMPGEN_DATA_MIRROR", "--profile profiles/slurm", "make report", "## Layout"]:
        assert words in readme, words


def documented_commands() -> list[list[str]]:
    """The arguments of every `snakemake` command in the README and docs/*.md, comments and shell continuations removed."""
    import shlex

    commands = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in page.read_text().splitlines():
            found = re.search(r"(?:\.venv/bin/)?\bsnakemake ((?:[^`#|)\n])+)", line)
            if found and not line.lstrip().startswith("#"):
                commands.append(shlex.split(found.group(1).strip().rstrip("\\")))
    return commands


def test_every_documented_snakemake_command_plans(tmp_path, default_config):
    """`snakemake -n` on the targets and config each documented command names: a renamed rule or key fails here."""
    groups: dict[tuple, set] = {}
    for args in documented_commands():
        targets, options, skip = [], [], False
        words = iter(args)
        for word in words:
            if word in ("--cores", "--resources", "-j", "--forcerun"):
                next(words, None)
            elif word == "--until":
                options += [word, next(words)]  # a rule name: Snakemake refuses one it does not know
            elif word in ("--config", "--configfile"):
                value = next(words)
                skip |= word == "--configfile" and not (ROOT / value).exists()  # a file the page asks the reader to write
                options += [word, value]
            elif word in ("--profile", "--report", "-n", "--dry-run") or word.startswith("--"):
                skip |= word in ("--profile", "--report")  # a cluster, or a finished run: not planned here
                if word in ("--profile", "--report"):
                    next(words, None)
            else:
                targets.append(word)
        if not skip:
            groups.setdefault(tuple(options), set()).update(targets)
    assert len(documented_commands()) >= 20 and {"datasets", "atmo", "mp_extract"} <= set().union(*groups.values())
    for options, targets in groups.items():
        extra = [o if not o.endswith(".yaml") else str(ROOT / o) for o in options]
        result = run_workflow(tmp_path / f"plan{len(options)}", sorted(targets), default_config, None, "-n", *extra)
        assert result.returncode == 0, f"{options} {sorted(targets)}: {result.stdout[-1500:]}{result.stderr[-1500:]}"


def test_planning_the_workflow_imports_no_deep_learning_library(tmp_path, default_config):
    """Parsing the Snakefile and planning every job stays light: on a cluster each job parses it twice
    (the sbatch script's Snakemake, then srun's), and torch alone cost 1.1 s of each parse."""
    result = run_workflow(tmp_path, ["all"], default_config, None, "-n", "--quiet", python_options=("-X", "importtime"))
    assert result.returncode == 0, result.stderr[-1500:]
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "snakemake" in imported and "compgen.registry" in imported  # the profile of this very run
    heavy = {"torch", "matplotlib", "sklearn", "xgboost", "chgnet", "umap"}
    assert not heavy & imported, sorted(heavy & imported)
