"""The physics digital twin: FASTSim power demand → pack electrical/thermal model → trip CSV."""
