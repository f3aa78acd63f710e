import pytest

from compgen.formula import FormulaError, chemical_system, mole_fractions, parse_csd_formula, parse_moiety


@pytest.mark.parametrize(
    "moiety, multiplier, amounts",
    [
        ("C6 H16 N2 2+", 1.0, {"C": 6, "H": 16, "N": 2}),  # bare moiety with a charge
        ("(H3 O11 P3 V2 2-)n", 1.0, {"H": 3, "O": 11, "P": 3, "V": 2}),  # polymer mark after
        ("n(H2 O1)", 1.0, {"H": 2, "O": 1}),  # polymer mark before
        ("2n(H2 O1)", 2.0, {"H": 2, "O": 1}),
        ("0.5n(O4 S1 2-)", 0.5, {"O": 4, "S": 1}),
        ("(C3 H12 N2 2+)2n", 2.0, {"C": 3, "H": 12, "N": 2}),
        ("4(C5 H6 N1 1+)", 4.0, {"C": 5, "H": 6, "N": 1}),
        ("2(H3 O21 Se6 V3 2-)n", 2.0, {"H": 3, "O": 21, "Se": 6, "V": 3}),  # number before, mark after
        ("O40 W12 12-", 1.0, {"O": 40, "W": 12}),  # two-digit charge
        ("H0.5 O1", 1.0, {"H": 0.5, "O": 1}),
    ],
)
def test_moiety_forms(moiety, multiplier, amounts):
    assert parse_moiety(moiety) == (multiplier, amounts)


def test_hydrate_sums_every_moiety():
    # ABEDAM: (C3 H12 N2 2+)2n, n(H4 Ge9 O22 4-), n(H2 O1)
    # C 2*3 = 6; H 2*12 + 4 + 2 = 30; N 2*2 = 4; Ge 9; O 22 + 1 = 23; 72 atoms in all.
    amounts = parse_csd_formula("(C3 H12 N2 2+)2n,n(H4 Ge9 O22 4-),n(H2 O1)")
    assert amounts == {"C": 6, "H": 30, "N": 4, "Ge": 9, "O": 23}
    fractions = mole_fractions(amounts)
    assert list(fractions) == ["C", "Ge", "H", "N", "O"]
    assert fractions["H"] == pytest.approx(30 / 72)
    assert fractions["Ge"] == pytest.approx(9 / 72)
    assert sum(fractions.values()) == pytest.approx(1.0, abs=1e-12)


def test_half_water_and_counter_ion():
    # ABUNOC: (H4 O10 Pr1 S2 1-)n, n(C6 H14 N2 2+), 0.5n(O4 S1 2-), 3n(H2 O1)
    amounts = parse_csd_formula("(H4 O10 Pr1 S2 1-)n,n(C6 H14 N2 2+),0.5n(O4 S1 2-),3n(H2 O1)")
    assert amounts == {"H": 4 + 14 + 6, "O": 10 + 2 + 3, "Pr": 1, "S": 2.5, "C": 6, "N": 2}


def test_same_element_in_one_moiety_adds_up():
    assert parse_csd_formula("H2 O1 H1") == {"H": 3, "O": 1}


@pytest.mark.parametrize(
    "formula, reason",
    [
        ("(Al1 O4 P1)n,x(H2 O1)", "undetermined or malformed multiplier 'x'"),
        ("Xx2 O1", "unknown element 'Xx'"),
        ("H2 O", "malformed token 'O'"),
        ("((H2 O1))", "unbalanced or nested parentheses"),
        ("H2 O1,", "empty moiety"),
        ("", "empty formula"),
        ("2(H2 O1)3", "a number both before and after"),
        ("2+", "no elements"),
    ],
)
def test_malformed_formulas_say_why(formula, reason):
    with pytest.raises(FormulaError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_csd_formula(formula)


def test_chemical_system_is_sorted_and_unique():
    assert chemical_system(["O", "P", "Al", "O", "C"]) == "Al-C-O-P"
