"""EV fleet battery health: predictive maintenance for electric-vehicle fleets."""

__version__ = "0.1.0"
