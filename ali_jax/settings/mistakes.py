"""Mistakes in what a user asked for, told apart from failures of the run itself.

A Mistake's message names the problem and its fix: main.py prints it without a
traceback and exits with EXIT_STATUS (2, as absl and argparse do for a bad
command line); a run that fails (a NaN, storage lost) exits with 1 and shows
its traceback. Each kind is also the built-in error it replaced, so code that
catches ValueError or RuntimeError catches it as before.
"""
EXIT_STATUS = 2


class Mistake(Exception):
  """Something asked for cannot be done as asked; the message says what to change."""


class ConfigMistake(Mistake, ValueError):
  """A config field, a flag, or a config that the workdir's run cannot continue under."""


class WorkdirInUse(Mistake, RuntimeError):
  """Another run holds the workdir's lock."""


class DatasetNotPrepared(Mistake, FileNotFoundError):
  """The data of an image config is not there; the message says how to get it."""
