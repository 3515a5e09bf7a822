"""A config checked and read: every field's declaration (fields.py) and the checks
across fields (validation.py). JAX-free, so main.py checks a config before JAX starts.
"""
