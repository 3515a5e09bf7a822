"""Measured runs kept beside a report, so that its table outgrows one machine's disk.

A sweep's runs live in a scratch workdir; what the table needs of each run (a
few numbers) goes into a JSON file committed next to the report. Later
invocations, on another machine with other runs, add their runs to it and table
all of them. The file names the settings its runs were made with; runs made
with other settings are refused rather than mixed in.

  {"settings": {...},
   "runs": {"<row>": {"<seed>": {"values": {...}, "measured_at": "<commit>",
                                 "trained_at": ["<commit>", ...],
                                 "measured_on": "<machine>", "trained_on": ["<machine>", ...],
                                 "diverged_at_step": <step>  (only a run that diverged)}}}}

Machines (reporting.machine) are named because the same seed and commit can give
other numbers on another CPU; records made before they were named lack them.
"""
import collections
import json
import os

import numpy as np

from experiments import reporting


class SettingsMismatch(ValueError):
  """The records were made with other settings than this invocation's."""


def load(path, settings):
  """{row: {seed: record}} from `path` (empty if it does not exist yet).

  Raises SettingsMismatch if `path` holds runs made with other `settings`.
  """
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    try:
      stored = json.load(f)
      stored_settings, runs = stored['settings'], stored['runs']
    except (ValueError, KeyError) as e:
      raise ValueError(f'{path} is not a run-records file ({e!r}); move it away or choose '
                       'another --output.') from e
  if stored_settings != settings:
    raise SettingsMismatch(
        f'{path} holds runs made with the settings {stored_settings}, not these: {settings}. '
        'Repeat those settings to add runs to it, or choose another --output for a new table.')
  return {row: {int(seed): record for seed, record in seeds.items()}
          for row, seeds in runs.items()}


def save(path, settings, runs):
  """Writes {row: {seed: record}} to `path` (rows in `runs`' order, seeds sorted)."""
  text = json.dumps({'settings': settings,
                     'runs': {row: {str(s): seeds[s] for s in sorted(seeds)}
                              for row, seeds in runs.items()}}, indent=1)
  reporting.write_text(path, text + '\n')


def record(values, measured_at, trained_at, measured_on, trained_on=(), diverged_at_step=None):
  """One run's entry: its table values, the commits and the machines that trained and
  measured it; a run that diverged (launch.RunDiverged) has no values and the step."""
  entry = {'values': values, 'measured_at': measured_at, 'trained_at': list(trained_at),
           'measured_on': measured_on, 'trained_on': list(trained_on)}
  if diverged_at_step is not None:
    entry['diverged_at_step'] = diverged_at_step
  return entry


def diverged(seeds):
  """{seed: step} of the records in {seed: record} that diverged."""
  return {s: r['diverged_at_step'] for s, r in seeds.items() if 'diverged_at_step' in r}


def measured(seeds):
  """{seed: values} of the records in {seed: record} that have numbers (did not diverge)."""
  return {s: r['values'] for s, r in seeds.items() if r['values']}


def commits(runs):
  """'trained at a, b; measured at c': the commits behind every record in `runs`."""
  trained = sorted({c for seeds in runs.values() for r in seeds.values()
                    for c in r['trained_at']})
  measured = sorted({r['measured_at'] for seeds in runs.values() for r in seeds.values()})
  return (f'trained at {", ".join(trained) or "commits not recorded"}; '
          f'measured at {", ".join(measured)}')


def machines(runs):
  """'Machines: A (3 runs), B (1 run); not named by 2 runs (...)': where the records in
  `runs` were trained (measured, for a row with no training) and how many runs each made."""
  counts, unnamed = collections.Counter(), 0
  for seeds in runs.values():
    for r in seeds.values():
      if 'measured_on' not in r:
        unnamed += 1
      else:
        counts.update(r['trained_on'] or [r['measured_on']])
  parts = [', '.join(f'{name} ({_runs(n)})' for name, n in counts.most_common())] if counts else []
  if unnamed:
    parts.append(f'not named by {_runs(unnamed)} (recorded before machines were)')
  return 'Machines: ' + '; '.join(parts)


def summary(runs):
  """{row: {value: {mean, std_ddof0, std_ddof1, n, by_seed}}} of the records in `runs`
  (std_ddof1, the sample std, is None for one seed), and {'diverged_at_step': {seed:
  step}} for a row with runs that diverged (their seeds are in no value's n)."""
  table = {}
  for row, seeds in runs.items():
    names = dict.fromkeys(name for r in seeds.values() for name in r['values'])
    stopped = diverged(seeds)
    table[row] = ({'diverged_at_step': {str(s): step for s, step in stopped.items()}}
                  if stopped else {})
    for name in names:
      by_seed = {str(s): r['values'][name] for s, r in sorted(seeds.items())
                 if name in r['values']}
      values = np.asarray(list(by_seed.values()), dtype=float)
      table[row][name] = dict(
          mean=float(values.mean()), std_ddof0=float(values.std()),
          std_ddof1=float(values.std(ddof=1)) if len(values) > 1 else None,
          n=len(values), by_seed=by_seed)
  return table


def paired_differences(runs, reference, keys, seeds=None):
  """{row: {'seeds': [seed, ...], key: [mean, low, high]}}: each other row of `runs` minus
  the `reference` row on the measured seeds both have (of `seeds`, when given), key by key:
  reporting.paired_interval's mean paired difference and 95 % t interval (low and high None
  for one seed). A row sharing no seed with the reference is left out, and so is a key that
  a run of the pair lacks."""
  base = measured(runs.get(reference, {}))
  table = {}
  for row, row_seeds in runs.items():
    values = measured(row_seeds)
    common = [s for s in (sorted(values) if seeds is None else seeds)
              if s in values and s in base]
    if row == reference or not common:
      continue
    table[row] = {'seeds': common}
    for key in keys:
      if all(key in values[s] and key in base[s] for s in common):
        mean, low, high = reporting.paired_interval([values[s][key] for s in common],
                                                    [base[s][key] for s in common])
        table[row][key] = [mean] + [None if np.isnan(v) else v for v in (low, high)]
  return table


def paired_table(differences, heading, columns):
  """Markdown of paired_differences' `differences`, its first column headed `heading`:
  columns [(key, header, scale, format)], each cell the scaled 'mean [low, high]', '*'
  where the interval excludes 0, the mean alone for one seed, '-' where the row lacks it."""
  lines = [f'| {heading} | seeds | ' + ' | '.join(c[1] for c in columns) + ' |',
           '|---' * (len(columns) + 2) + '|']
  for row, numbers in differences.items():
    cells = []
    for key, _, scale, number_format in columns:
      if key not in numbers:
        cells.append('-')
        continue
      mean, low, high = numbers[key]
      cell = number_format.format(scale * mean)
      if low is not None:
        clear = '*' if low > 0 or high < 0 else ''
        cell += (f' [{number_format.format(scale * low)}, '
                 f'{number_format.format(scale * high)}]{clear}')
      cells.append(cell)
    lines.append(f'| {row} | {len(numbers["seeds"])} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def _runs(n):
  return f'{n} run' + 's' * (n != 1)
