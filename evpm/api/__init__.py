"""The model inference API (Flask, served by gunicorn): `evpm.api.app.create_app`."""
