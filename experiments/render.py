"""Writes every quoted result in README, docs and reports from the records.

  python -m experiments.render [FILE ...]  rewrites what is between the markers
  python -m experiments.render --check     lists what differs and exits 1 (the tests run it)

Markers (HTML comments, invisible on GitHub) in any markdown file:

  <!--n NAME:PATH|FORMAT-->72.8 %<!--/n-->
      one number: record NAME (experiments/records.py), PATH a '/'-separated
      path into it (a table row by its first cell or index: numbers/tables/0/rows/bigan/2),
      FORMAT a str.format pattern given the value as {} and, for fractions, {pct}
      (the value in percent): '{pct:.1f} %', '{:.3f}', '{:,.0f}'. No FORMAT: '{}'.
  <!--table NAME:INDEX columns=0,2,5 rows=bigan;ali-->
  ...
  <!--/table-->
      record NAME's table INDEX (its report's tables in order), optionally some
      columns (indices) and rows (first cells, ';'-separated).
  <!--index-->
  ...
  <!--/index-->
      the list of every record (experiments/results/README.md).

Prose keeps its words; only what is between markers is rewritten, and nothing inside
fenced code blocks.
"""
import argparse
import os
import re
import sys

from experiments import records as records_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A number's text may not hold another marker: an unclosed one is an error, not a
# match that swallows the prose up to the next marker's end.
NUMBER = re.compile(r'<!--n (?P<name>[^:>]+):(?P<path>[^|>]+?)(?:\|(?P<format>.*?))?-->'
                    r'(?P<text>(?:(?!<!--n ).)*?)<!--/n-->', re.DOTALL)
TABLE = re.compile(r'<!--table (?P<name>[^:>]+):(?P<index>\d+)(?P<options>[^>]*)-->\n'
                   r'(?P<text>.*?)<!--/table-->', re.DOTALL)
# A pattern that writes a number: {pct...} or a spec with a numeric type ('{:.3f}').
NUMERIC_PATTERN = re.compile(r'\{pct|\{:[^}]*([eEfFgGd%]|\.\d+)\}')
INDEX = re.compile(r'<!--index-->\n(?P<text>.*?)<!--/index-->', re.DOTALL)


class RenderError(ValueError):
  """A marker names a record, path or table that is not there."""


def documents(repo=REPO):
  """The markdown files that may quote records: README, docs/, experiments/results/."""
  paths = [os.path.join(repo, 'README.md')]
  for folder in ('docs', os.path.join('experiments', 'results')):
    for root, _, files in os.walk(os.path.join(repo, folder)):
      paths += [os.path.join(root, f) for f in sorted(files) if f.endswith('.md')]
  return [p for p in paths if os.path.exists(p)]


def lookup(records, name, path):
  """The value at `path` ('a/b/0/label') in record `name`."""
  if name not in records:
    raise RenderError(f'No record named {name!r} (experiments/results/**/{name}'
                      f'{records_lib.SUFFIX}).')
  value = records[name]
  for part in path.strip().split('/'):
    try:
      if isinstance(value, dict):
        value = value[part]
      elif isinstance(value, list) and part.lstrip('-').isdigit():
        value = value[int(part)]
      elif isinstance(value, list):  # a table row by its first cell
        value = next(row for row in value if isinstance(row, list) and row and row[0] == part)
      else:
        raise KeyError(part)
    except (KeyError, IndexError, StopIteration):
      raise RenderError(f'Record {name!r} has nothing at {path!r} (stopped at {part!r}).')
  return value


def format_value(value, pattern):
  """`value` written by `pattern`; a table cell that is a number ('0.7276') counts as one."""
  pattern = pattern or '{}'
  if isinstance(value, str) and NUMERIC_PATTERN.search(pattern):
    try:
      value = float(value.replace(',', ''))
    except ValueError:
      raise RenderError(f'{value!r} is not a number, so {pattern!r} cannot write it; '
                        'quote it with no format.') from None
  try:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return pattern.format(value, pct=100 * value)
    return pattern.format(value)
  except (ValueError, TypeError, KeyError, IndexError) as e:
    raise RenderError(f'Cannot write {value!r} as {pattern!r}: {e!r}') from None


def _table_options(options):
  """(columns, rows) of a table marker's 'columns=0,2 rows=a;b c' (labels may hold spaces)."""
  columns = rows = None
  for key, value in re.findall(r'(\S+?)=(.*?)(?=\s+\S+=|\s*$)', options.strip()):
    if key == 'columns':
      columns = [int(c) for c in value.split(',')]
    elif key == 'rows':
      rows = value.split(';')
    else:
      raise RenderError(f'Unknown table option {key!r}; use columns=0,2 or rows=a;b.')
  return columns, rows


def index_table(records):
  """Every record, current ones first: the experiments/results/README.md index."""
  rows = []
  ordered = sorted(records.values(), key=lambda r: (r['status'] != records_lib.CURRENT,
                                                     r['folder'], r['name']))
  for r in ordered:
    folder = '' if r['folder'] == '.' else r['folder'] + '/'
    report = next((o for o in r['outputs'] if o.endswith('.md')), r['outputs'][0])
    commits = ', '.join(dict.fromkeys(r.get('trained_at') or []))
    commit = r['commit'] + (f' (trained at {commits})' if commits else '')
    machine = r['machine'] if isinstance(r['machine'], str) else (
        f'{r["machine"]["cpu"]}, {r["machine"]["cores"]} cores')
    status = r['status'] + (f' by {r["superseded_by"]}' if r.get('superseded_by') else '')
    status += ' (reconstructed record)' if r.get('reconstructed') else ''
    rows.append([f'[{r["name"]}]({folder}{report})', r['title'], f'`{r["command"]}`',
                 commit, machine, status])
  return records_lib.markdown_table(
      {'columns': ['result', 'what', 'command', 'commit', 'machine', 'status'], 'rows': rows})


def render(text, records):
  """`text` with every marker's content made from `records`."""
  def number(m):
    value = lookup(records, m['name'], m['path'])
    return m[0].replace(f'-->{m["text"]}<!--/n-->',
                        f'-->{format_value(value, m["format"])}<!--/n-->', 1)

  def table(m):
    tables = lookup(records, m['name'], 'numbers/tables')
    index = int(m['index'])
    if index >= len(tables):
      raise RenderError(f'Record {m["name"]!r} has {len(tables)} tables, not {index + 1}.')
    columns, rows = _table_options(m['options'])
    try:
      body = records_lib.markdown_table(tables[index], columns, rows)
    except (KeyError, IndexError) as e:
      raise RenderError(f'Table {m["name"]}:{index}: {e}')
    return f'<!--table {m["name"]}:{m["index"]}{m["options"]}-->\n{body}\n<!--/table-->'

  def markers(part):
    opened, closed = part.count('<!--n '), part.count('<!--/n-->')
    if opened != closed:
      raise RenderError(f'{opened} number markers open and {closed} close: one is unclosed.')
    part = TABLE.sub(table, NUMBER.sub(number, part))
    return INDEX.sub(lambda m: f'<!--index-->\n{index_table(records)}\n<!--/index-->', part)

  # Fenced code blocks (``` ... ```) are left alone: they may show markers as examples.
  parts = re.split(r'(^```.*?^```[^\n]*$)', text, flags=re.DOTALL | re.MULTILINE)
  return ''.join(part if i % 2 else markers(part) for i, part in enumerate(parts))


def stale(repo=REPO, results=None):
  """{path: rendered text} of every document whose markers' content is not what the
  records give."""
  records = records_lib.load_all(results or os.path.join(repo, 'experiments', 'results'))
  changed = {}
  for path in documents(repo):
    with open(path) as f:
      text = f.read()
    try:
      rendered = render(text, records)
    except RenderError as e:
      raise RenderError(f'{os.path.relpath(path, repo)}: {e}') from None
    if rendered != text:
      changed[path] = rendered
  return changed


def differences(path, rendered):
  """The markers of `path` whose content differs from `rendered`: 'old -> new' lines."""
  with open(path) as f:
    old = f.read()
  lines = []
  for pattern in (NUMBER, TABLE, INDEX):
    for before, after in zip(pattern.finditer(old), pattern.finditer(rendered)):
      if before[0] != after[0]:
        lines.append(f'  {before[0][:120]!r}\n    -> {after["text"][:120]!r}')
  return lines


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--check', action='store_true',
                      help='Write nothing; list the stale markers and exit 1 if any.')
  parser.add_argument('files', nargs='*', help='Only these documents (default: all).')
  args = parser.parse_args(argv)
  try:
    changed = stale()
  except RenderError as e:
    sys.exit(f'error: {e}')
  if args.files:
    wanted = {os.path.abspath(f) for f in args.files}
    changed = {path: text for path, text in changed.items() if path in wanted}
  for path, rendered in changed.items():
    shown = os.path.relpath(path, REPO)
    if args.check:
      print(f'{shown}: stale\n' + '\n'.join(differences(path, rendered)))
    else:
      with open(path, 'w') as f:
        f.write(rendered)
      print(f'{shown}: rendered')
  if args.check and changed:
    sys.exit('Run `python -m experiments.render` to write them from the records.')


if __name__ == '__main__':
  main()
