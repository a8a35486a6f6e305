"""The file names of a trained model set: what training writes and the predictor loads.

A module of its own, so that serving knows them without importing training (and with it the
digital twin, FASTSim and BLAST-Lite).
"""

from __future__ import annotations

SOH_MODEL_FILE = "optimized_soh_xgb_model.joblib"
SOP_MODEL_FILE = "sop_model_final.joblib"
MODEL_CARD_FILE = "model_card.json"
