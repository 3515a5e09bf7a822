"""One record per result: what made it, kept beside what it made.

Every report under experiments/results/ has a record, `<name>.record.json` in
the same folder (`archive/` for superseded ones). README and docs quote
results only through the records (experiments/render.py), so a number
cannot be typed twice and drift. A record:

  name          its file name without .record.json; how markers name it
  title         one line: what the result is
  status        'current', or 'superseded' (then `superseded_by` says by what)
  command       the command line that made it
  commit        the code's commit (`dirty`: whether tracked files differed from it);
                `trained_at`: the commits that trained the runs it tables, if others
  packages      {package: version}
  machine       provenance.machine(): CPU model, family/model/stepping, cores, ISA
  started       ISO 8601 UTC; `wall_s` the seconds it took
  config        the settings it was made with (a config file, flags, ...)
  outputs       the files it covers, relative to its folder
  numbers       what it measured; `numbers['tables']` are the report's tables,
                each {'columns': [...], 'rows': [[cell, ...], ...]} as printed
  reconstructed null, or how a record of an older result was pieced together
                (then any field that was not known says 'unknown')
"""
import json
import os
import re
import sys
import time

from ali_jax.runs import provenance
from experiments import reporting

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
ARCHIVE = 'archive'
SUFFIX = '.record.json'
CURRENT, SUPERSEDED = 'current', 'superseded'
UNKNOWN = provenance.UNKNOWN

_TABLE_LINE = re.compile(r'^\s*\|.*\|\s*$')
_SEPARATOR_CELL = re.compile(r'^:?-{3,}:?$')
TABLE_MARKER = '<!--table {name}:{index}-->'
TABLE_END = '<!--/table-->'


def record_path(output):
  """The record of the report `output` (a file or a folder): `<stem>.record.json`."""
  stem = os.path.splitext(output.rstrip('/'))[0]
  return stem + SUFFIX


def name_of(path):
  return os.path.basename(path)[:-len(SUFFIX)]


class Recorder:
  """Started when an experiment starts; writes its record when its report is done."""

  def __init__(self, config=None, command=None):
    self.command = command or 'python ' + ' '.join(sys.argv)
    self.config = config
    self.started = provenance.now()
    self._start_time = time.time()
    self.code = provenance.code_version()

  @classmethod
  def from_flags(cls, flags):
    """A Recorder whose config is the running script's absl flags and their values."""
    main = sys.modules['__main__']
    defined = (flags.get_key_flags_for_module(sys.argv[0])
               or flags.get_key_flags_for_module(main))
    return cls(config={flag.name: flag.value for flag in defined})

  @property
  def commit(self):
    return self.code['commit']

  @property
  def wall_s(self):
    return time.time() - self._start_time

  def record(self, name, *, title, numbers, outputs, **fields):
    """The record of this experiment (a dict), as write() would save it."""
    return dict(name=name, title=title, status=CURRENT, command=self.command,
                commit=self.code['commit'], dirty=self.code['dirty'],
                packages=provenance.package_versions(), machine=provenance.machine(),
                started=self.started, wall_s=round(self.wall_s, 1), config=self.config,
                outputs=list(outputs), numbers=numbers, reconstructed=None, **fields)

  def write_report(self, path, text, *, title, numbers=None, outputs=(), **fields):
    """Writes the markdown report `text` to `path` and its record beside it.

    The report's tables go into the record (numbers['tables']) and are marked in
    the report, so that experiments/render.py regenerates them from the record.
    """
    text, tables = mark_tables(text, name_of(record_path(path)))
    self.write_record(path, title=title, numbers=dict(numbers or {}, tables=tables),
                      outputs=outputs, **fields)
    reporting.write_text(path, text)

  def write_record(self, output, *, title, numbers, outputs=(), **fields):
    """The record of `output` (a report, a JSON or a folder of results) and `outputs`."""
    folder = os.path.dirname(os.path.abspath(output))
    outputs = [os.path.relpath(os.path.abspath(o), folder) for o in (output, *outputs)]
    write(record_path(output), self.record(name_of(record_path(output)), title=title,
                                           numbers=numbers, outputs=outputs, **fields))


def write(path, record):
  reporting.write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + '\n')


def load(path):
  with open(path) as f:
    try:
      record = json.load(f)
    except ValueError as e:
      raise ValueError(f'{path} is not a valid record ({e}); restore it from git.') from e
  if record.get('name') != name_of(path):
    raise ValueError(f'{path} names itself {record.get("name")!r}; a record is named as '
                     'its file is.')
  return record


def load_all(results=RESULTS):
  """{name: record} of every record under `results`, with the folder it lives in."""
  records = {}
  for folder, _, files in os.walk(results):
    for file in sorted(files):
      if file.endswith(SUFFIX):
        record = load(os.path.join(folder, file))
        if record['name'] in records:
          raise ValueError(f'Two records are named {record["name"]!r}; rename one.')
        record['folder'] = os.path.relpath(folder, results)
        records[record['name']] = record
  return records


# ---- Tables: parsed out of a report, rendered back into it -------------------------

def _cells(line):
  cells = re.split(r'(?<!\\)\|', line.strip())[1:-1]
  return [cell.strip() for cell in cells]


def parse_table(lines):
  """{'columns', 'rows'} of a markdown table's lines (header, separator, rows)."""
  if len(lines) < 2 or not all(_SEPARATOR_CELL.match(c) for c in _cells(lines[1])):
    raise ValueError(f'Not a markdown table: {lines[:2]}')
  columns, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
  for row in rows:  # an unescaped | in a cell would shift every later column
    if len(row) != len(columns):
      raise ValueError(f'A table row has {len(row)} cells under {len(columns)} columns '
                       f'(escape a | inside a cell as \\|): {row}')
  return {'columns': columns, 'rows': rows}


def markdown_table(table, columns=None, rows=None):
  """The markdown of `table`, optionally only some columns (indices) and rows (labels:
  each row's first cell; or indices)."""
  columns = range(len(table['columns'])) if columns is None else columns
  picked = table['rows'] if rows is None else [_row(table, label) for label in rows]
  line = lambda cells: '| ' + ' | '.join(cells[i] if i < len(cells) else '' for i in columns) + ' |'
  return '\n'.join([line(table['columns']), '|' + '---|' * len(columns)]
                   + [line(row) for row in picked])


def _row(table, label):
  if isinstance(label, int):
    return table['rows'][label]
  for row in table['rows']:
    if row and row[0] == label:
      return row
  raise KeyError(f'No row {label!r}; the rows are {[row[0] for row in table["rows"]]}')


def mark_tables(text, name):
  """(text with each table between markers naming record `name`, the parsed tables).

  Tables already marked are re-parsed in place (so marking is idempotent).
  """
  lines = text.split('\n')
  out, tables, i = [], [], 0
  while i < len(lines):
    if not _TABLE_LINE.match(lines[i]):
      if not re.fullmatch(r'\s*<!--/?table[^>]*-->\s*', lines[i]):
        out.append(lines[i])
      i += 1
      continue
    j = i
    while j < len(lines) and _TABLE_LINE.match(lines[j]):
      j += 1
    table = parse_table(lines[i:j])
    out += [TABLE_MARKER.format(name=name, index=len(tables)), markdown_table(table),
            TABLE_END]
    tables.append(table)
    i = j
  return '\n'.join(out), tables


def mark_report(path, name=None):
  """Marks the tables of the report at `path` for record `name` (its file's stem by
  default), rewriting the file; returns the parsed tables for that record's numbers."""
  with open(path) as f:
    text, tables = mark_tables(f.read(), name or name_of(record_path(path)))
  reporting.write_text(path, text)
  return tables


def reconstructed(name, *, title, how, outputs, numbers, command=UNKNOWN, commit=UNKNOWN,
                  machine=UNKNOWN, started=UNKNOWN, wall_s=UNKNOWN, config=UNKNOWN,
                  packages=UNKNOWN, dirty=UNKNOWN, status=CURRENT, **fields):
  """The record of a result made before records were: what is known, 'unknown' for the
  rest, and `how` (where each known field was read) in its `reconstructed` field."""
  return dict(name=name, title=title, status=status, command=command, commit=commit,
              dirty=dirty, packages=packages, machine=machine, started=started,
              wall_s=wall_s, config=config, outputs=list(outputs), numbers=numbers,
              reconstructed=how, **fields)
