"""Which raw files each dataset is built from, and its numeric value columns.

Kept free of heavy imports: the Snakefile reads it to wire rules together.
"""

DATASETS = {
    "atmo": {"sources": ["atmo.csv"], "values": ["dimension"]},
    "elpasolite_dft": {"sources": ["elpasolite_train_set.pkl"], "values": ["e_form"]},
    "hydrides": {"sources": ["PdH_dataset.mat", "NiH_dataset.mat"], "values": ["cell_volume"]},
    "perovskites": {
        "sources": ["perov_5_val.csv", "perov_5_test.csv"],
        "values": ["heat_ref", "dir_gap", "ind_gap"],
    },
    "mp_e_form": {"sources": ["mp_e_form.csv"], "values": ["e_form"]},
    "mp_gap": {"sources": ["mp_gap.csv"], "values": ["band_gap"]},
}

UNITS = {
    "e_form": "eV/atom",
    "heat_ref": "eV",
    "dir_gap": "eV",
    "ind_gap": "eV",
    "band_gap": "eV",
    "cell_volume": "A^3",
    "dimension": "framework dimensionality",
}
