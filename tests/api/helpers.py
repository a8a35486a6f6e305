"""Request bodies shared by the API tests."""

REFERENCE_REQUEST = {
    "vehicle_id": "V001", "discharge_time_s": 3245.8, "voltage_drop_time_s": 1820.3,
    "delta_T_C": 16.2, "avg_current": -1.98, "avg_voltage": 3.73, "current_std": 0.05,
    "voltage_std": 0.42, "mean_max_temp": 33.1, "dod": 78.5, "voltage_V_mean": 3.73,
    "current_A_mean": -1.98, "temperature_C_mean": 30.8, "temperature_C_max": 35.4,
}
REFERENCE_FIELDS = {"vehicle_id", "predicted_soh", "predicted_sop", "health_score", "status"}


def request(**changes) -> dict:
    """The reference request with some fields changed (None removes a field)."""
    body = dict(REFERENCE_REQUEST, **changes)
    return {k: v for k, v in body.items() if v is not None}
