"""A run's storage: its workdir (local or gs://) and lock, checkpoints, summaries,
provenance, and the checks made before a run starts (preflight.py).
"""
