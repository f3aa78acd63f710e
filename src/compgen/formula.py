"""Parsing of CSD moiety formulas into element amounts and mole fractions.

A CSD formula lists moieties separated by commas. Each moiety is a sequence of
`<Element><count>` tokens, optionally a charge token (`2+`, `4-`), optionally
wrapped in parentheses with a multiplier before or after: `2n(H2 O1)`,
`(C3 H12 N2 2+)2n`, `0.5n(...)`, `n(...)`, `4(C5 H6 N1 1+)`. The `n` marks a
polymeric repeat and counts as 1. Every moiety (framework, amine cations,
water, counter-ions) is summed with its multiplier; charges are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pymatgen.core.periodic_table import Element

_ELEMENT_SYMBOLS = frozenset(e.symbol for e in Element)
_MOIETY = re.compile(r"^(?P<pre>[^()]*)\((?P<body>[^()]*)\)(?P<post>[^()]*)$")
_MULTIPLIER = re.compile(r"^(?P<number>\d+(?:\.\d+)?)?(?P<n>n)?$")
_ELEMENT_TOKEN = re.compile(r"^(?P<symbol>[A-Z][a-z]?)(?P<count>\d+(?:\.\d+)?)$")
_CHARGE_TOKEN = re.compile(r"^\d*[+-]$")


class FormulaError(ValueError):
    """A formula that cannot be turned into a composition; the message says why."""


def _multiplier(pre: str, post: str, moiety: str) -> float:
    """The moiety's multiplier from the text before and after its parentheses.

    The number may stand on either side and the polymer mark `n` on either
    (`2(...)n` is 2), but only one side may carry a number.
    """
    numbers = []
    for text in (pre, post):
        match = _MULTIPLIER.match(text)
        if match is None:
            raise FormulaError(f"moiety {moiety!r}: undetermined or malformed multiplier {text!r}")
        if match["number"]:
            numbers.append(float(match["number"]))
    if len(numbers) > 1:
        raise FormulaError(f"moiety {moiety!r}: a number both before and after the parentheses")
    return numbers[0] if numbers else 1.0


def parse_moiety(moiety: str) -> tuple[float, dict[str, float]]:
    """Return (multiplier, element amounts) of one moiety."""
    moiety = moiety.strip()
    if not moiety:
        raise FormulaError("empty moiety")
    wrapped = _MOIETY.match(moiety)
    if wrapped:
        body = wrapped["body"]
        multiplier = _multiplier(wrapped["pre"].strip(), wrapped["post"].strip(), moiety)
    elif "(" in moiety or ")" in moiety:
        raise FormulaError(f"moiety {moiety!r}: unbalanced or nested parentheses")
    else:
        body, multiplier = moiety, 1.0
    amounts: dict[str, float] = {}
    for token in body.split():
        element = _ELEMENT_TOKEN.match(token)
        if element:
            symbol = element["symbol"]
            if symbol not in _ELEMENT_SYMBOLS:
                raise FormulaError(f"moiety {moiety!r}: unknown element {symbol!r}")
            amounts[symbol] = amounts.get(symbol, 0.0) + float(element["count"])
        elif not _CHARGE_TOKEN.match(token):
            raise FormulaError(f"moiety {moiety!r}: malformed token {token!r}")
    if not amounts:
        raise FormulaError(f"moiety {moiety!r}: no elements")
    if multiplier <= 0:
        raise FormulaError(f"moiety {moiety!r}: multiplier must be positive")
    return multiplier, amounts


def parse_csd_formula(formula: str) -> dict[str, float]:
    """Total element amounts of a CSD formula, all moieties summed with their multipliers."""
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("empty formula")
    total: dict[str, float] = {}
    for moiety in formula.split(","):
        multiplier, amounts = parse_moiety(moiety)
        for symbol, count in amounts.items():
            total[symbol] = total.get(symbol, 0.0) + multiplier * count
    return total


def mole_fractions(amounts: Mapping[str, float]) -> dict[str, float]:
    """Amounts normalised to fractions summing to 1, keys sorted by symbol."""
    total = sum(amounts.values())
    if not total > 0:
        raise FormulaError("composition has no positive amount")
    return {symbol: amounts[symbol] / total for symbol in sorted(amounts)}


def chemical_system(elements) -> str:
    """The sorted element set joined with '-', e.g. 'C-H-N-O-P-V'."""
    return "-".join(sorted(set(elements)))
