"""The networks: each family's modules, the tables they are built from, what they share.

Importing a table (ali_architectures, bigbigan_architectures) does not start JAX:
this file imports nothing.
"""
