"""The file names of a trained model set (one SoH and one SoP model per ensemble member), and
what its SoP model outputs: shared by training and the predictor.

A module of its own, so that serving knows them without importing training (and with it the
digital twin, FASTSim and BLAST-Lite).
"""

from __future__ import annotations

SOH_MODEL_FILE = "optimized_soh_xgb_model.joblib"
SOP_MODEL_FILE = "sop_model_final.joblib"
MODEL_CARD_FILE = "model_card.json"
# What the SoP model outputs (model card `sop_output`): the log of SoP / rated peak power.
# Cards without it come from models that added their output to the anchor itself.
SOP_OUTPUT = "log_fraction_of_rated_peak_power"


def member_files(member: int) -> dict[str, str]:
    """The SoH and SoP files of ensemble member `member` (member 0 keeps the names above)."""
    if member == 0:
        return {"soh": SOH_MODEL_FILE, "sop": SOP_MODEL_FILE}
    return {"soh": f"soh_member_{member}.joblib", "sop": f"sop_member_{member}.joblib"}
