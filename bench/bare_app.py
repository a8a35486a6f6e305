"""The baseline of the API benchmark: a bare Flask JSON endpoint, served the same way."""

from __future__ import annotations

from flask import Flask, jsonify, request


def create_app() -> Flask:
    """POST /predict that parses the JSON body and answers a fixed JSON object."""
    app = Flask("bare")

    @app.post("/predict")
    def predict():
        body = request.get_json()
        return jsonify({"vehicle_id": body.get("vehicle_id"), "predicted_soh": 0.9,
                        "predicted_sop": 45000.0, "health_score": 0.2, "status": "Healthy"})

    return app
