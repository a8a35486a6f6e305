"""Labeled data from the twin → SoH and SoP XGBoost models + model card, reproducibly.

Recipe: simulate road vehicles (every vehicle profile, urban / highway / aggressive / mixed duty,
cold to desert climates) and lab cells (constant-current and square-wave discharges in 4, 24 and
43 °C chambers) with BLAST-Lite aging and BMS noise; write every trip as a CSV and read it back
through the same trip → features path that serving uses; split by vehicle; train. An ensemble:
each member does all of that on its own simulated fleets (seed, seed + 1, …), and the served
prediction is the members' mean.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from evpm.features import (
    MODEL_FEATURES,
    PHYSICS_FEATURES,
    REFERENCE_FEATURES,
    extract_file,
    measured_soh,
    soh_anchor,
    sop_margin,
    sop_ratio,
)
from evpm.health import robust_soh
from evpm.model_files import MODEL_CARD_FILE, SOP_OUTPUT, member_files
from evpm.profiles import LAB_PROFILE, VEHICLE_PROFILES, Profile
from evpm.trips import TripError
from evpm.twin.fleet import FleetSpec, simulate_fleet
from evpm.twin.trip import TripSpec, cell_profile
from evpm.uncertainty import calibrate, soh_interval, soh_read_error, sop_interval

# Physics says capacity features can only raise SoH and resistance can only lower SoP.
SOH_MONOTONE = {"capacity_ratio": 1, "discharge_capacity_ratio": 1}
SOP_MONOTONE = {"r_dc_norm": -1, "r_dc_rated_ratio": -1, "r_dc_25c_ratio": -1}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the training data and the models."""

    vehicles: int = 240
    lab_cells: int = 120
    trips: int = 16
    days: float = 365.0
    seed: int = 2026
    test_fraction: float = 0.25
    reference_only_fraction: float = 0.8
    n_estimators: int = 300
    max_depth: int = 6
    learning_rate: float = 0.1
    workers: int = 2
    # Models trained on different simulated fleets disagree where real data lies outside the
    # twin (a median 0.03-0.06 apart on one real log): their mean is steadier than any one.
    members: int = 3
    # Domain randomisation (evpm.twin.randomise): each cell its own OCV curve, dynamics,
    # sensor and BMS.
    randomise: bool = False


Progress = Callable[[str, int], Callable[[int], None]]


def member_configs(config: TrainConfig) -> list[TrainConfig]:
    """One single-member recipe per ensemble member: its own seed, so its own fleets."""
    return [replace(config, seed=config.seed + k, members=1) for k in range(config.members)]


def _no_progress(_label: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


def _extract_job(job: tuple[str, Profile]) -> dict:
    path, profile = job
    try:
        # The twin's profile is an explicit override in evpm.trips.trip_identity, the rule
        # the pipeline and `evpm features` follow (vehicle id from the name, one id a file).
        return extract_file(path, profile=profile)
    except TripError as exc:
        return {"error": exc.reason}


def trip_profile(row: dict) -> Profile:
    """The profile a simulated trip was made with (its cell's own rating for lab cells)."""
    def given(name: str):
        value = row.get(name)
        return None if value is None or value != value else value

    return cell_profile(TripSpec(profile=row["profile"], cell_ah=given("cell_capacity_ah"),
                                 cell_v_min=given("cell_v_min"), chemistry=given("chemistry")))


def generate_dataset(config: TrainConfig, work_dir: Path, progress: Progress = _no_progress
                     ) -> pd.DataFrame:
    """Simulate the fleets, extract features from the written CSVs, attach labels."""
    fleets = [
        (FleetSpec(vehicles=count, trips=config.trips, days=config.days, seed=seed,
                   profiles=profiles, id_prefix=prefix, randomise=config.randomise), name)
        for count, seed, profiles, prefix, name in (
            (config.vehicles, config.seed, tuple(VEHICLE_PROFILES), "EV", "road"),
            (config.lab_cells, config.seed + 1, (LAB_PROFILE,), "CELL", "lab"))
        if count > 0  # a fleet of none (e.g. a check without lab cells) is not simulated
    ]
    truth_rows = []
    for spec, name in fleets:
        tick = progress(f"simulate {name} fleet", spec.vehicles)
        rows = simulate_fleet(spec, work_dir / name, workers=config.workers, progress=tick)
        truth_rows += [{**row, "path": str(work_dir / name / row["file"])} for row in rows]
    # Truth columns that share a name with a feature get a prefix (features are measured).
    truth = pd.DataFrame(truth_rows).rename(columns={
        "soc_start": "true_soc_start", "soc_end": "true_soc_end", "duration_s": "true_duration_s"})
    # Each trip is read with its own cell's profile (lab cells draw their rating).
    profiles = [trip_profile(row) for row in truth.to_dict("records")]
    jobs = list(zip(truth["path"], profiles, strict=True))
    tick = progress("extract features", len(jobs))
    features = []
    with multiprocessing.get_context("fork").Pool(config.workers) as pool:
        for row in pool.imap(_extract_job, jobs, chunksize=16):
            features.append(row)
            tick(1)
    data = pd.concat([truth.reset_index(drop=True), pd.DataFrame(features)], axis=1)
    if "error" in data:
        data = data[data["error"].isna()].drop(columns="error")
    cells = [trip_profile(row) for row in data.to_dict("records")]
    rated_capacity = pd.Series([p.pack_capacity_ah for p in cells], index=data.index)
    rated_power = pd.Series([p.rated_peak_power_w for p in cells], index=data.index)
    # Cells on a cycler are labelled the way a lab states capacity (and the real-data labels
    # are): the standard capacity — 1 C from full at 25 °C to the cut-off — over rated, whatever
    # the test. Vehicles: the cell's capacity as its BMS counts it (the twin: BLAST-Lite's).
    lab = data["standard_capacity_ah"].notna()
    data["soh_label"] = np.where(lab, data["standard_capacity_ah"] / rated_capacity,
                                 data["true_soh"])
    data["sop_label"] = data["true_sop_w"] / rated_power
    data["true_window"] = data["true_soc_start"] - data["true_soc_end"]
    return data.reset_index(drop=True)


def split_by_vehicle(data: pd.DataFrame, config: TrainConfig) -> pd.Series:
    """True for test rows: a seeded share of each profile's vehicles, never split by trip."""
    rng = np.random.default_rng(config.seed)
    test_ids: set[str] = set()
    for _, group in data.groupby("profile", sort=True):
        ids = np.array(sorted(group["vehicle_id"].unique()))
        rng.shuffle(ids)
        test_ids.update(ids[: max(1, math.ceil(config.test_fraction * len(ids)))])
    return data["vehicle_id"].isin(test_ids)


def reference_only(frame: pd.DataFrame, keep_profile: bool = False) -> pd.DataFrame:
    """The same rows as a reference-design client sends them: physics features absent.

    With `keep_profile`, the profile's rated capacity stays: the API adds it when it knows
    the vehicle's profile (fleet registry or a `profile` field).
    """
    masked = frame.copy()
    masked[[f for f in PHYSICS_FEATURES if not (keep_profile and f == "rated_capacity_ah")]] = \
        np.nan
    return masked


def _regressor(config: TrainConfig, monotone: dict[str, int], callbacks: list):
    from xgboost import XGBRegressor

    return XGBRegressor(
        n_estimators=config.n_estimators, max_depth=config.max_depth,
        learning_rate=config.learning_rate, subsample=0.8, colsample_bytree=0.8,
        min_child_weight=2, tree_method="hist", n_jobs=config.workers,
        random_state=config.seed, callbacks=callbacks,
        # As a tuple in feature order: the name form does not survive set_params().
        monotone_constraints="(" + ",".join(str(monotone.get(f, 0)) for f in MODEL_FEATURES) + ")",
    )


def _round_callback(tick: Callable[[int], None]):
    from xgboost.callback import TrainingCallback

    class _Tick(TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:  # noqa: ARG002
            tick(1)
            return False

    return _Tick()


def fit_models(train: pd.DataFrame, config: TrainConfig, progress: Progress = _no_progress):
    """Train the SoH and SoP regressors, with reference-only copies of a share of the rows."""
    rng = np.random.default_rng(config.seed)
    draw = rng.random(len(train))
    # The reference design's 13-feature request is a vehicle's trip: only road rows are copied
    # as reference-only rows (lab cells, which draw their own ratings, would teach it theirs).
    road = (train["profile"] != LAB_PROFILE).to_numpy()
    chosen = (draw < config.reference_only_fraction) & road
    with_profile = chosen & (draw < config.reference_only_fraction / 2)
    augmented = pd.concat([train, reference_only(train[chosen & ~with_profile]),
                           reference_only(train[with_profile], keep_profile=True)],
                          ignore_index=True)
    x = augmented[MODEL_FEATURES].astype(float)
    models = []
    for name, label, monotone in (("SoH", "soh_label", SOH_MONOTONE),
                                  ("SoP", "sop_label", SOP_MONOTONE)):
        tick = progress(f"train {name} model", config.n_estimators)
        model = _regressor(config, monotone, [_round_callback(tick)])
        target = augmented[label].to_numpy()
        if name == "SoH":
            model.fit(x, target, base_margin=soh_anchor(augmented))
        else:  # a factor on the physics anchor: see features.sop_margin
            model.fit(x, np.log(target), base_margin=sop_margin(augmented))
        model.set_params(callbacks=None)  # keep the saved model free of our callback class
        models.append(model)
    return tuple(models)


def _bins(data: pd.DataFrame) -> dict[str, pd.Series]:
    full = data["discharge_capacity_ah"].notna()
    window = data["true_window"]
    return {
        "full discharge (lab, to cut-off)": full,
        "SOC window >= 10 %": ~full & (window >= 0.10),
        "SOC window 5-10 %": ~full & (window >= 0.05) & (window < 0.10),
        "SOC window 2-5 %": ~full & (window >= 0.02) & (window < 0.05),
        "SOC window < 2 %": ~full & (window < 0.02),
    }


def _mae_table(error: np.ndarray, data: pd.DataFrame) -> dict[str, dict]:
    table = {}
    for name, mask in _bins(data).items():
        if mask.any():
            chosen = error[mask.to_numpy()]
            table[name] = {"trips": int(mask.sum()), "mae": float(np.mean(chosen)),
                           "p90": float(np.quantile(chosen, 0.9))}
    return table


def ensemble_predict(models: list, x: pd.DataFrame, margin: np.ndarray) -> np.ndarray:
    """The members' mean prediction (each on the same base margin), as the predictor serves it."""
    return np.mean([model.predict(x, base_margin=margin) for model in models], axis=0)


def evaluate(soh_models: list, sop_models: list, test: pd.DataFrame) -> dict:
    """Held-out metrics: per-trip SoH by window, per-vehicle SoH, SoP, reference-only, lab."""
    x = test[MODEL_FEATURES].astype(float)
    measured = measured_soh(test)  # as the predictor serves it: a capacity test's measurement
    soh_pred = np.where(np.isfinite(measured), measured,
                        ensemble_predict(soh_models, x, soh_anchor(test)))
    sop_pred = sop_ratio(ensemble_predict(sop_models, x, sop_margin(test)))
    soh_error = np.abs(soh_pred - test["soh_label"].to_numpy())
    masked = reference_only(test)
    ref_pred = ensemble_predict(soh_models, masked[MODEL_FEATURES].astype(float),
                                soh_anchor(masked))
    ref_error = np.abs(ref_pred - test["soh_label"].to_numpy())
    known = reference_only(test, keep_profile=True)
    known_pred = ensemble_predict(soh_models, known[MODEL_FEATURES].astype(float),
                                  soh_anchor(known))
    known_error = np.abs(known_pred - test["soh_label"].to_numpy())
    sop_ape = np.abs(sop_pred - test["sop_label"].to_numpy()) / test["sop_label"].to_numpy()
    frame = test.assign(pred=soh_pred, day=pd.to_datetime(test["date"]).map(pd.Timestamp.toordinal))
    vehicle_errors = []
    for _, trips in frame.sort_values("date").groupby("vehicle_id"):
        # The estimate /vehicles and the dashboard show, weighted as they weight it.
        estimate = robust_soh(trips["day"], trips["pred"],
                              trips[["soc_window", "dod", "soc_error"]].to_dict("records"))
        vehicle_errors.append(abs(estimate - trips["soh_label"].iloc[-1]))
    wide = test["true_window"].to_numpy() >= 0.10
    wide |= test["discharge_capacity_ah"].notna().to_numpy()
    lab = (test["profile"] == LAB_PROFILE).to_numpy()
    return {
        "test_vehicles": int(test["vehicle_id"].nunique()),
        "test_trips": len(test),
        "soh_trip_mae_all": float(soh_error.mean()),
        "soh_trip_mae_window_ge_10pct": float(soh_error[wide & ~lab].mean()) if
        (wide & ~lab).any() else math.nan,
        "soh_trip_mae_full_discharge": float(soh_error[lab].mean()) if lab.any() else math.nan,
        "soh_trip_by_window": _mae_table(soh_error, test),
        "soh_vehicle_mae": float(np.mean(vehicle_errors)),
        "sop_mape_pct": float(100.0 * sop_ape.mean()),
        "soh_reference_only_mae": float(ref_error.mean()),
        "soh_reference_only_by_window": _mae_table(ref_error, test),
        "soh_reference_with_profile_mae": float(known_error.mean()),
        "soh_reference_with_profile_by_window": _mae_table(known_error, test),
    }


def calibrate_intervals(soh_models: list, sop_models: list, test: pd.DataFrame
                        ) -> tuple[dict, dict]:
    """The 90 % intervals' calibration (model card `intervals`), fitted on half the held-out
    vehicles, and their coverage and median width on the other half (metrics)."""
    x = test[MODEL_FEATURES].astype(float)
    measured = measured_soh(test)
    soh = np.where(np.isfinite(measured), measured,
                   ensemble_predict(soh_models, x, soh_anchor(test)))
    sop = sop_ratio(ensemble_predict(sop_models, x, sop_margin(test)))
    read = soh_read_error(test, measured)
    has_resistance = np.isfinite(test["r_dc_25c_ratio"].to_numpy(dtype=float))
    label, sop_label = test["soh_label"].to_numpy(), test["sop_label"].to_numpy()
    vehicles = sorted(test["vehicle_id"].unique())
    fit = test["vehicle_id"].isin(vehicles[::2]).to_numpy()
    calibration = calibrate(soh[fit], label[fit], read[fit], sop[fit], sop_label[fit],
                            has_resistance[fit])
    check = ~fit
    low, high = soh_interval(soh[check], read[check], calibration)
    sop_low, sop_high = sop_interval(sop[check], has_resistance[check], calibration)
    metrics = {
        "soh_interval_coverage": float(np.mean((low <= label[check]) & (label[check] <= high))),
        "soh_interval_median_width": float(np.median(high - low)),
        "sop_interval_coverage": float(np.mean((sop_low <= sop_label[check])
                                               & (sop_label[check] <= sop_high))),
        "interval_check_trips": int(check.sum()),
    }
    return asdict(calibration), metrics


def _versions() -> dict[str, str]:
    packages = ["xgboost-cpu", "scikit-learn", "numpy", "pandas", "fastsim", "blast-lite"]
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def model_version(soh_models: list, sop_models: list) -> str:
    """Content hash of every member's boosters: equal models, equal version."""
    digest = hashlib.sha256()
    for soh_model, sop_model in zip(soh_models, sop_models, strict=True):
        for model in (soh_model, sop_model):
            digest.update(bytes(model.get_booster().save_raw("json")))
    return f"1.{digest.hexdigest()[:10]}"


def build_card(config: TrainConfig, data: pd.DataFrame, is_test: pd.Series, metrics: dict,
               version: str) -> dict:
    """The model card: version, features with training ranges, metrics, recipe, libraries."""
    train = data[~is_test]
    features = []
    for name in MODEL_FEATURES:
        values = train[name].astype(float)
        features.append({
            "name": name,
            "kind": "reference" if name in REFERENCE_FEATURES else "physics",
            "min": None if values.isna().all() else round(float(values.min()), 6),
            "max": None if values.isna().all() else round(float(values.max()), 6),
        })
    return {
        "model_version": version,
        "made_by": "evpm train",
        "targets": {
            "soh": "state of health, fraction of rated capacity (lab discharges: capacity "
                   "measured to the cut-off / rated)",
            "sop": "state of power as a fraction of the profile's rated peak power (10-s "
                   "discharge at 50 % SOC, 25 °C); watts = fraction × rated peak power",
        },
        # The SoP model's output is the log of that fraction (features.sop_ratio).
        "sop_output": SOP_OUTPUT,
        "files": member_files(0),  # the first member, where readers of one model look
        # Each member: its seed and files; the served SoH and SoP are the members' means.
        "members": [{"seed": member.seed, **member_files(k)}
                    for k, member in enumerate(member_configs(config))],
        "features": features,
        "metrics": metrics,
        "data_generation": {
            **asdict(config),
            "road_profiles": list(VEHICLE_PROFILES), "lab_profile": LAB_PROFILE,
            "train_trips": int((~is_test).sum()), "test_trips": int(is_test.sum()),
            "train_vehicles": int(train["vehicle_id"].nunique()),
            "soh_label_range": [round(float(data["soh_label"].min()), 4),
                                round(float(data["soh_label"].max()), 4)],
            "noise": "BMS / lab-cycler noise on (evpm/twin/noise.py)",
            "split": "by vehicle, stratified by profile",
        },
        "libraries": _versions(),
    }


def _labelled(progress: Progress, member: int, members: int) -> Progress:
    if members == 1:
        return progress
    return lambda label, total: progress(f"{label} (member {member + 1}/{members})", total)


def train(config: TrainConfig, out_dir: Path, work_dir: Path,
          progress: Progress = _no_progress) -> dict:
    """Run the whole recipe; write every member's models and the model card into `out_dir`."""
    import joblib

    datasets, tests, soh_models, sop_models = [], [], [], []
    for k, member in enumerate(member_configs(config)):
        tick = _labelled(progress, k, config.members)
        data = generate_dataset(member, work_dir / f"member-{k}", tick)
        is_test = split_by_vehicle(data, member)
        soh_model, sop_model = fit_models(data[~is_test], member, tick)
        # Vehicle ids repeat between members' fleets: keep them apart.
        datasets.append(data.assign(member=k, vehicle_id=f"m{k}-" + data["vehicle_id"]))
        tests.append(is_test)
        soh_models.append(soh_model)
        sop_models.append(sop_model)
    data = pd.concat(datasets, ignore_index=True)
    is_test = pd.concat(tests, ignore_index=True)
    # Every member's held-out vehicles are unseen by all members (the others never saw its
    # fleet), so the ensemble is scored on all of them.
    metrics = evaluate(soh_models, sop_models, data[is_test])
    intervals, coverage = calibrate_intervals(soh_models, sop_models, data[is_test])
    card = build_card(config, data, is_test, {**metrics, **coverage},
                      model_version(soh_models, sop_models))
    card["intervals"] = intervals
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, (soh_model, sop_model) in enumerate(zip(soh_models, sop_models, strict=True)):
        files = member_files(k)
        joblib.dump(soh_model, out_dir / files["soh"])
        joblib.dump(sop_model, out_dir / files["sop"])
    # NaN (a metric with no trips, e.g. no lab cells) is written as null.
    (out_dir / MODEL_CARD_FILE).write_text(json.dumps(_nan_to_none(card), indent=2) + "\n")
    data.to_csv(work_dir / "dataset.csv", index=False)
    return card


def _nan_to_none(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj
