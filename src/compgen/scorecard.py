"""The reproduction scorecard: every headline number of the four papers beside ours, and the rows this project adds.

The rows are data, in `resources/<study>_paper.yaml`: under `results:` the paper's numbers
(with the words that carry them, which way is better, a tolerance and where ours is written),
under `beyond:` the rows this project adds, which have no paper value and are judged against
a baseline or another setting instead. `ours` names a result file under `results/`, the
column, the rows (`where`), and how rows become one number per seed. Ours is then the mean
over seeds with their standard deviation; a file with one seed gives the spread over folds,
or the spread its own table reports (`sd`), and a deterministic computation says so.

Verdicts:
- against the paper: `reproduced` when ours is within the row's tolerance of the paper's
  number, else `better` or `worse` in the row's direction;
- against a baseline: by a paired t-test over the seeds both share ("better than X (p, n
  seeds)"), or, without seeds to pair, by the means alone, which the text says.

A number the results do not hold is an error naming the file and the rows, never an empty cell.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from compgen.io import write_csv

log = logging.getLogger(__name__)

STUDIES = ("atmo", "elpasolite", "hydrides", "latent")
PAPERS = {
    "atmo": "Ai et al. 2022",
    "elpasolite": "Türk et al. 2022",
    "hydrides": "Nouira et al. 2018",
    "latent": "Korolev et al., SI",
}
SIGNIFICANCE = 0.05
COLUMNS = [
    "section", "study", "paper", "where", "measure", "better", "paper_value", "tolerance", "ours_mean", "ours_sd", "spread", "n_seeds",
    "verdict", "comparable", "best_baseline", "baseline_mean", "baseline_sd", "vs_baseline", "file",
]  # fmt: skip


class ScorecardError(ValueError):
    """A declared number that the results do not hold."""


@dataclass(frozen=True)
class Measured:
    mean: float
    sd: float
    spread: str  # what sd is over: 'seeds', 'folds', 'as reported', 'deterministic'
    per_seed: pd.Series | None  # one value per seed, when the file has seeds


def rows(resources: Path) -> list[dict]:
    """Every declared row of every study, with its study and section."""
    declared = []
    for study in STUDIES:
        data = yaml.safe_load((Path(resources) / f"{study}_paper.yaml").read_text())
        for section, key in (("paper", "results"), ("beyond the papers", "beyond")):
            declared += [{"study": study, "section": section, **row} for row in data.get(key, [])]
    return declared


def _config_value(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def declared(row: dict, config: dict) -> bool:
    """Whether the run's config asks for what the row measures (`requires`)."""
    need = row.get("requires")
    return need is None or need["contains"] in _config_value(config, need["config"])


def result_path(row: dict, results: Path, placeholders: dict) -> Path:
    return Path(results) / row["ours"]["file"].format(**placeholders)


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ScorecardError(f"{path}: missing; the scorecard needs it (run the study that writes it)")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _select(table: pd.DataFrame, spec: dict, path: Path, measure: str) -> pd.DataFrame:
    chosen = table
    for column, value in spec.get("where", {}).items():
        if column not in chosen.columns:
            raise ScorecardError(f"{path}: no column {column!r} (for {measure!r})")
        chosen = chosen[_equal(chosen[column], value)]
    if (largest := spec.get("largest")) and len(chosen):
        chosen = chosen[chosen[largest] == chosen[largest].max()]
    if chosen.empty or spec["column"] not in chosen.columns:
        raise ScorecardError(f"{path}: no rows with {spec.get('where', {})} and a column {spec['column']!r}, for {measure!r}")
    return chosen


def _equal(column: pd.Series, value) -> pd.Series:
    """Rows whose `column` is `value`: numbers within rounding, the rest as text (a YAML false matches a stored False)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and pd.api.types.is_numeric_dtype(column):
        return np.isclose(column.astype(float), float(value))
    return column.astype(str).str.lower() == str(value).lower()


def measure(spec: dict, table: pd.DataFrame, path: Path, name: str) -> Measured:
    """Ours for one `ours` spec: the mean over seeds and its spread."""
    chosen = _select(table, spec, path, name)
    scale = float(spec.get("scale", 1.0))
    values = chosen[spec["column"]].astype(float) * scale
    within = spec.get("within_seed", "mean")
    seed = spec.get("seed")
    if seed:
        per_seed = values.groupby(chosen[seed]).agg(within)
        if len(per_seed) >= 2:
            return Measured(float(per_seed.mean()), float(per_seed.std(ddof=1)), "seeds", per_seed)
    else:
        per_seed = None
    mean = float(values.agg(within))
    folds = values.groupby(chosen[spec["fold"]]).mean() if spec.get("fold") else None
    if spec.get("sd"):
        sd, spread = float(chosen[spec["sd"]].astype(float).mean()) * scale, "folds, as reported"
    elif folds is not None and len(folds) >= 2:
        sd, spread = float(folds.std(ddof=1)), "folds"
    elif spec.get("spread") == "deterministic":
        sd, spread = 0.0, "deterministic"
    else:  # a run with one seed (the tiny settings): its number stands, and says it has no spread
        sd, spread = 0.0, "one seed: no spread"
    return Measured(mean, sd, spread, per_seed)


def verdict(ours: float, paper: float, tolerance: float, better: str) -> str:
    """Reproduced within the tolerance, else better or worse in the row's direction."""
    if abs(ours - paper) <= tolerance + 1e-12:
        return "reproduced"
    return "better" if (ours < paper) == (better == "lower") else "worse"


def against_baseline(ours: Measured, baseline: Measured, better: str, label: str) -> str:
    """Better or worse than a baseline by a paired t-test over shared seeds, or by the means where no seeds pair."""
    from scipy import stats

    if ours.per_seed is not None and baseline.per_seed is not None:
        shared = ours.per_seed.index.intersection(baseline.per_seed.index)
        if len(shared) >= 2:
            difference = (ours.per_seed[shared] - baseline.per_seed[shared]).to_numpy()
            if np.allclose(difference, difference[0]):
                p = 1.0 if math.isclose(difference[0], 0.0, abs_tol=1e-12) else 0.0
            else:
                p = float(stats.ttest_rel(ours.per_seed[shared], baseline.per_seed[shared]).pvalue)
            ahead = (difference.mean() < 0) == (better == "lower")
            if p < SIGNIFICANCE:
                return f"{'better' if ahead else 'worse'} than {label} (paired t, p = {p:.2g}, {len(shared)} seeds)"
            return f"no difference from {label} shown (paired t, p = {p:.2g}, {len(shared)} seeds)"
    ahead = (ours.mean < baseline.mean) == (better == "lower")
    return f"{'ahead of' if ahead else 'behind'} {label} by the means (no seeds to pair: not a tested claim)"


def score(row: dict, results: Path, placeholders: dict) -> dict:
    """One scorecard line."""
    path = result_path(row, results, placeholders)
    table = _read(path)
    ours = measure(row["ours"], table, path, row["measure"])
    if not (math.isfinite(ours.mean) and math.isfinite(ours.sd)):
        raise ScorecardError(f"{path}: {row['measure']!r} is {ours.mean} ± {ours.sd}, not a finite number")
    line = {
        "section": row["section"], "study": row["study"], "paper": PAPERS[row["study"]], "where": row["where"], "measure": row["measure"],
        "better": row["better"], "paper_value": row.get("value", ""), "tolerance": row.get("tolerance", ""), "ours_mean": ours.mean,
        "ours_sd": ours.sd, "spread": ours.spread, "n_seeds": len(ours.per_seed) if ours.per_seed is not None else 1, "file": str(path),
        "comparable": row.get("comparable", "yes" if row["section"] == "paper" else ""),
    }  # fmt: skip
    line["verdict"] = verdict(ours.mean, float(row["value"]), float(row["tolerance"]), row["better"]) if "value" in row else ""
    baselines = []
    for baseline in row.get("baselines", []):
        spec = {**row["ours"], "where": {**row["ours"].get("where", {}), **baseline["where"]}}
        baselines.append((baseline["label"], measure(spec, table, path, f"{row['measure']} / {baseline['label']}")))
    if baselines:
        label, best = (min if row["better"] == "lower" else max)(baselines, key=lambda b: b[1].mean)
        line |= {"best_baseline": label, "baseline_mean": best.mean, "baseline_sd": best.sd,
                 "vs_baseline": against_baseline(ours, best, row["better"], label)}  # fmt: skip
        if not line["verdict"]:
            line["verdict"] = line["vs_baseline"].split(" (")[0]
    else:
        line |= {"best_baseline": "", "baseline_mean": "", "baseline_sd": "", "vs_baseline": ""}
    return line


def scorecard(resources: Path, results: Path, placeholders: dict, config: dict) -> pd.DataFrame:
    lines = []
    for row in rows(resources):
        if not declared(row, config):
            need = row["requires"]
            log.info("%s: %r not declared here (the config has no %s in %s)", row["study"], row["measure"], need["contains"], need["config"])
            continue
        lines.append(score(row, results, placeholders))
        log.info("%s | %s | paper %s | ours %.4g ± %.2g (%s) | %s", row["study"], row["measure"], row.get("value", "-"), lines[-1]["ours_mean"],
                 lines[-1]["ours_sd"], lines[-1]["spread"], lines[-1]["verdict"])  # fmt: skip
    return pd.DataFrame(lines, columns=COLUMNS)


def _number(value, sd=None) -> str:
    """Three significant digits (none after the point from 100 up); `sd` after a ±, to the same digits."""
    if value == "" or value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = float(value)
    digits = 3 if value == 0 else max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}" + ("" if sd is None else f" ± {float(sd):.{digits}f}")


def _against(text: str, label: str) -> str:
    """The front page's few words for a comparison with a baseline (the full sentence is in scorecard.csv)."""
    test = text[text.index("(") :] if "(paired t" in text else ""
    test = test.replace("(paired t, ", "(")
    if text.startswith("better"):
        return f"ours better {test}"
    if text.startswith("worse"):
        return f"{label} better {test}"
    if text.startswith("no difference"):
        return f"no difference shown {test}"
    return f"ours {'ahead' if text.startswith('ahead') else 'behind'}, untested (one seed)"


def front_table(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as the report's front page shows it: paper beside ours, the verdict, the best baseline and how ours compares."""
    ours = [
        f"{_number(m, None if spread.startswith(('one seed', 'deterministic')) else s)} ({n}{' seed' if n == 1 else ' seeds'}"
        f"{', sd over folds' if spread.startswith('folds') else ''})"
        for m, s, n, spread in zip(card["ours_mean"], card["ours_sd"], card["n_seeds"], card["spread"], strict=True)
    ]
    baseline = [
        f"{b} {_number(m)}: {_against(text, b)}" if isinstance(b, str) and b else ""
        for b, m, text in zip(card["best_baseline"], card["baseline_mean"], card["vs_baseline"], strict=True)
    ]
    return pd.DataFrame(
        {
            "study": card["study"],
            "measure": card["measure"] + " — " + card["where"],
            "paper": [str(v) if v != "" else "" for v in card["paper_value"]],
            "ours (mean ± sd)": ours,
            "verdict": [v + ("" if c in ("yes", "") else " (not comparable)") for v, c in zip(card["verdict"], card["comparable"], strict=True)],
            "best non-learned baseline": baseline,
        }
    )


def summary_table(card: pd.DataFrame) -> pd.DataFrame:
    """One line per study for the report's front page: how many paper numbers, the verdicts, and where a baseline wins by test."""
    paper = card[card["section"] == "paper"]
    lines = []
    for study, rows in paper.groupby("study", sort=False):
        beaten = rows[rows["vs_baseline"].astype(str).str.startswith("worse")]
        untested = int(rows["vs_baseline"].astype(str).str.startswith("behind").sum())
        lines.append(
            {
                "study": f"{study} ({PAPERS[study]})",
                "paper numbers": len(rows),
                "reproduced / better / worse": " / ".join(str((rows["verdict"] == v).sum()) for v in ("reproduced", "better", "worse")),
                "not comparable": int((~rows["comparable"].isin(["yes", ""])).sum()),
                "a non-learned baseline wins (paired t, p < 0.05)": "; ".join(
                    f"{m.split(' (%)')[0].replace(' (right class)', '')}: {b}" for m, b in zip(beaten["measure"], beaten["best_baseline"], strict=True)
                )
                or "none shown"
                + (f" ({untested} behind a baseline by the means, untested: one seed)" if untested else ""),
            }
        )
    return pd.DataFrame(lines)


def scorecard_job(resources, results, placeholders: dict, config: dict, outputs) -> None:
    card = scorecard(Path(resources), Path(results), placeholders, config)
    log.info("%d rows: %s", len(card), card["verdict"].value_counts().to_dict())
    write_csv(card, outputs.table)
    write_csv(front_table(card[card["section"] == "paper"]), outputs.front)
    write_csv(front_table(card[card["section"] != "paper"]), outputs.beyond)
    write_csv(summary_table(card), outputs.summary)
