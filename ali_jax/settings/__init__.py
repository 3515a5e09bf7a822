"""What a config may say: the names of its choices and the datasets' facts.

Plain Python and data only (no JAX, Flax or TensorFlow), so that main.py checks a
config and its overrides in well under two seconds, before any of them start.
"""
