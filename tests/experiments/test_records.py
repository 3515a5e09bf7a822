"""Result records and the renderer that writes README and docs numbers from them."""
import json
import os

import pytest

from experiments import records
from experiments import render

REPORT = """# A sweep

Command: `python experiments/x.py`

| method | 1-NN | seeds |
|---|---|---|
| bigan | 80.49% +- 0.25% | 3 |
| raw pixels | 84.97% +- 0.00% | 3 |

Prose between tables.

| a | b |
|---|---|
| 1 | 2 |
"""


def _repo_with_report(tmp_path):
  """A repo-like tree: experiments/results/sweep.md with its record, and a README."""
  results = tmp_path / 'experiments' / 'results'
  recorder = records.Recorder(config={'seeds': 3}, command='python experiments/x.py')
  recorder.write_report(str(results / 'sweep.md'), REPORT, title='A sweep',
                        numbers={'best': 0.80487})
  return results


def test_report_and_record_written_together(tmp_path):
  results = _repo_with_report(tmp_path)
  record = records.load(str(results / 'sweep.record.json'))
  assert record['name'] == 'sweep' and record['status'] == records.CURRENT
  assert record['command'] == 'python experiments/x.py' and record['config'] == {'seeds': 3}
  assert record['outputs'] == ['sweep.md']
  assert {'commit', 'dirty', 'packages', 'machine', 'started', 'wall_s'} <= set(record)
  assert record['machine']['cores'] == os.cpu_count()
  first, second = record['numbers']['tables']
  assert first['columns'] == ['method', '1-NN', 'seeds']
  assert first['rows'][1] == ['raw pixels', '84.97% +- 0.00%', '3']
  assert second == {'columns': ['a', 'b'], 'rows': [['1', '2']]}
  # The report's tables are marked as the record's, and marking again changes nothing.
  text = (results / 'sweep.md').read_text()
  assert text.count('<!--table sweep:') == 2 and text.count('<!--/table-->') == 2
  assert records.mark_tables(text, 'sweep')[0] == text


def test_render_writes_numbers_and_tables_and_check_finds_a_stale_copy(tmp_path):
  _repo_with_report(tmp_path)
  readme = tmp_path / 'README.md'
  readme.write_text(
      'BiGAN reaches <!--n sweep:numbers/best|{pct:.1f} %-->0<!--/n--> '
      '(<!--n sweep:numbers/tables/0/rows/raw pixels/1-->?<!--/n--> for pixels).\n\n'
      '<!--table sweep:0 columns=0,1 rows=raw pixels-->\n<!--/table-->\n')
  changed = render.stale(str(tmp_path))
  assert set(changed) == {str(readme)}  # the report itself is already as its record says
  assert changed[str(readme)] == (
      'BiGAN reaches <!--n sweep:numbers/best|{pct:.1f} %-->80.5 %<!--/n--> '
      '(<!--n sweep:numbers/tables/0/rows/raw pixels/1-->84.97% +- 0.00%<!--/n--> for '
      'pixels).\n\n<!--table sweep:0 columns=0,1 rows=raw pixels-->\n| method | 1-NN |\n'
      '|---|---|\n| raw pixels | 84.97% +- 0.00% |\n<!--/table-->\n')
  readme.write_text(changed[str(readme)])
  assert render.stale(str(tmp_path)) == {}
  # A number typed over by hand (a stale copy) is found, and rendering puts it back.
  readme.write_text(readme.read_text().replace('80.5 %', '81.0 %'))
  assert set(render.stale(str(tmp_path))) == {str(readme)}
  assert 'sweep:numbers/best' in '\n'.join(render.differences(
      str(readme), render.stale(str(tmp_path))[str(readme)]))


def test_render_names_what_a_marker_points_at_that_is_not_there(tmp_path):
  _repo_with_report(tmp_path)
  all_records = records.load_all(str(tmp_path / 'experiments' / 'results'))
  with pytest.raises(render.RenderError, match="No record named 'swep'"):
    render.render('<!--n swep:numbers/best-->x<!--/n-->', all_records)
  with pytest.raises(render.RenderError, match="nothing at 'numbers/worst'"):
    render.render('<!--n sweep:numbers/worst-->x<!--/n-->', all_records)
  with pytest.raises(render.RenderError, match='has 2 tables, not 3'):
    render.render('<!--table sweep:2-->\n<!--/table-->', all_records)
  with pytest.raises(render.RenderError, match="'84.97% \\+- 0.00%' is not a number"):
    render.render('<!--n sweep:numbers/tables/0/rows/raw pixels/1|{pct:.1f}-->x<!--/n-->',
                  all_records)
  marker = '<!--n sweep:numbers/tables/0/rows/raw pixels/2|{:.1f}-->'
  assert render.render(marker + 'x<!--/n-->', all_records) == marker + '3.0<!--/n-->'
  with pytest.raises(render.RenderError, match="No row 'gan'"):
    render.render('<!--table sweep:0 rows=gan-->\n<!--/table-->', all_records)


def test_index_lists_every_record_current_first(tmp_path):
  results = _repo_with_report(tmp_path)
  records.write(str(results / 'archive' / 'old.record.json'), records.reconstructed(
      'old', title='An old sweep', how='from its header', outputs=['old.md'], numbers={},
      status=records.SUPERSEDED, superseded_by='sweep'))
  index = render.index_table(records.load_all(str(results)))
  lines = index.splitlines()
  assert lines[2].startswith('| [sweep](sweep.md) | A sweep | `python experiments/x.py` |')
  assert lines[3].startswith('| [old](archive/old.md) | An old sweep | `unknown` | unknown |')
  assert lines[3].endswith('| superseded by sweep (reconstructed record) |')


def test_a_record_must_be_named_as_its_file(tmp_path):
  path = tmp_path / 'a.record.json'
  path.write_text(json.dumps({'name': 'b'}))
  with pytest.raises(ValueError, match="names itself 'b'"):
    records.load(str(path))
  path.write_text('{')
  with pytest.raises(ValueError, match='not a valid record'):
    records.load(str(path))


def test_readme_and_docs_quote_the_records():
  """Every marked number and table in README, docs and reports is what its record
  says: edit a record, not a copy, then run `python -m experiments.render`."""
  changed = render.stale()
  assert not changed, 'Stale copies of recorded results:\n' + '\n'.join(
      f'{os.path.relpath(path, render.REPO)}:\n' + '\n'.join(render.differences(path, text))
      for path, text in changed.items()) + '\nRun `python -m experiments.render`.'


def test_every_result_file_is_covered_by_a_record():
  covered = {os.path.join(r['folder'], output) for r in records.load_all().values()
             for output in r['outputs']}
  uncovered = []
  for folder, _, files in os.walk(records.RESULTS):
    for file in files:
      path = os.path.normpath(os.path.relpath(os.path.join(folder, file), records.RESULTS))
      if not file.endswith(records.SUFFIX) and path != 'README.md' and path not in {
          os.path.normpath(c) for c in covered}:
        uncovered.append(path)
  assert not uncovered, f'Files in experiments/results/ that no record covers: {uncovered}'


def test_fenced_code_blocks_are_left_alone():
  example = 'See:\n```\n<!--n nothing:here-->x<!--/n-->\n```\n'
  assert render.render(example, {}) == example


def test_an_unclosed_number_marker_is_named_not_swallowed():
  records_ = {'r': {'numbers': {'a': 0.5}}}
  with pytest.raises(render.RenderError, match='one is unclosed'):
    render.render('A <!--n r:numbers/a-->0.1 prose. B <!--n r:numbers/a-->0.5<!--/n-->', records_)
  assert render.render('<!--n r:numbers/a|{:>5}-->x<!--/n-->', records_) == (
      '<!--n r:numbers/a|{:>5}-->  0.5<!--/n-->')


def test_a_table_row_wider_than_its_header_is_refused():
  with pytest.raises(ValueError, match='2 cells under 1 columns'):
    records.parse_table(['| a |', '|---|', '| x | y |'])
