"""results.json, results.md and ablation.png of a study, from its runs' records.

Per variant: the mean and spread over seeds of the mAP on all key frames, on the degraded key
frames and on the clean ones, the per-joint-group means, and the paired difference from the
study's reference (FAMI-Pose's: FAMI-Pose without MI) with its 95% interval. The plot needs
matplotlib (the [plot] extra); without it the report says so and writes the rest.
"""

from __future__ import annotations

import io
import os
from typing import Any, Callable

from data_pipeline import atomic_files
from data_pipeline import joints
from famipose_jax.ablation import grid
from famipose_jax.ablation import paired_stats
from famipose_jax.ablation.variant import Study

MEASURES = ('mAP', 'degraded_mAP', 'clean_mAP')
# The evaluator's table order (the overall mean is the 'all key frames' column).
JOINT_GROUPS = tuple(name for name, _ in joints.TABLE_COLUMNS)
MEASURE_LABELS = {'mAP': 'all key frames', 'degraded_mAP': 'degraded key frames',
                  'clean_mAP': 'clean key frames'}


def _row(record: dict) -> dict:
  """The row of a record that is its variant's prediction: FAMI-Pose's, or the single frame's."""
  return record['rows']['final']


def summarise(study: Study, records: list[dict], variants: list[str]) -> list[dict]:
  """Per variant of `study` (in grid order): seeds, spreads, joint-group means, paired
  differences from its reference.

  Failed runs (a NaN loss) are listed per variant in 'failed_seeds' and left out of the
  numbers; a variant with no finished seed has only its name, label and failures.
  """
  by_run, failed = {}, {}
  for record in records:
    name = grid.SINGLE_FRAME if record['run'] == grid.STAGE1_DIR else record['run']
    if record.get('failed'):
      failed.setdefault(name, []).append(record['seed'])
    else:
      by_run.setdefault(name, {})[record['seed']] = _row(record)
  reference = by_run.get(study.reference, {})
  summary = []
  for name in variants:
    rows = by_run.get(name, {})
    if not rows and name not in failed:
      continue
    variant = study.by_name[name]
    seeds = sorted(rows)
    entry: dict[str, Any] = {
        'variant': name, 'label': variant.label, 'group': variant.group,
        'overrides': variant.json_overrides(),
        'seeds': seeds, 'failed_seeds': sorted(failed.get(name, []))}
    if not rows:
      summary.append(entry)
      continue
    for measure in MEASURES:
      entry[measure] = paired_stats.spread([rows[s][measure] for s in seeds])
      paired = [s for s in seeds if s in reference]
      if name != study.reference and paired:
        entry[f'{measure}_vs_reference'] = paired_stats.paired_difference(
            [rows[s][measure] for s in paired], [reference[s][measure] for s in paired])
    entry['columns'] = {g: paired_stats.spread([rows[s]['columns'][g] for s in seeds])['mean']
                        for g in JOINT_GROUPS}
    summary.append(entry)
  return summary


def _signed(x: float) -> str:
  return f'{x:+.1f}'


def _difference_cell(study: Study, entry: dict, measure: str) -> str:
  if entry['variant'] == study.reference:
    return '(reference)'
  diff = entry.get(f'{measure}_vs_reference')
  if diff is None:
    return 'n/a (no reference seed finished)'
  # Fewer paired seeds than the variant's own (a reference seed failed): say how many.
  paired = f' (n={diff["n"]})' if diff['n'] < len(entry['seeds']) else ''
  if diff['low'] is None:
    return f'{_signed(diff["mean"])} (1 seed)'
  mark = ' **clear**' if diff['clear'] else ''
  return (f'{_signed(diff["mean"])} [{_signed(diff["low"])}, {_signed(diff["high"])}]'
          f'{paired}{mark}')


def markdown(study: Study, summary: list[dict], run_seconds: float | None,
             seeds: list[int]) -> str:
  """The tables of results.md."""
  # The reference's row label, without the mark its own row carries.
  reference = study.by_name[study.reference].label.removesuffix(' (reference)')
  lines = [
      f'Seeds: {", ".join(map(str, seeds))}. PoseTrack mAP on the validation key frames: mean '
      f'+- sample sd over seeds; "vs reference": the mean paired difference from {reference} '
      'with its 95% t interval; **clear** when that interval excludes 0.', '',
      '| Variant | all key frames | vs reference | degraded key frames | vs reference | '
      'clean key frames | vs reference |',
      '|---|---|---|---|---|---|---|']
  for entry in summary:
    cells = [entry['label']]
    if entry['failed_seeds']:
      cells[0] += f' (failed: seed {", ".join(map(str, entry["failed_seeds"]))})'
    if not entry['seeds']:
      lines.append('| ' + ' | '.join(cells + ['-'] * 2 * len(MEASURES)) + ' |')
      continue
    for measure in MEASURES:
      s = entry[measure]
      cells.append(f'{s["mean"]:.1f} +- {s["sd"]:.1f}')
      cells.append(_difference_cell(study, entry, measure))
    lines.append('| ' + ' | '.join(cells) + ' |')
  scored = [entry for entry in summary if entry['seeds']]
  if scored:
    groups = JOINT_GROUPS
    lines += ['', 'Per joint group (mean over seeds, all key frames):', '',
              '| Variant | ' + ' | '.join(groups) + ' |',
              '|---|' + '---|' * len(groups)]
    for entry in scored:
      lines.append(f'| {entry["label"]} | ' +
                   ' | '.join(f'{entry["columns"][g]:.1f}' for g in groups) + ' |')
  if run_seconds is not None:
    lines += ['', f'Wall time of the runs (training, evaluation, start-up), summed over their '
              f'records: {run_seconds / 60:.1f} min.']
  return '\n'.join(lines) + '\n'


def plot(study: Study, summary: list[dict], path: str) -> bool:
  """Bars with sd error bars per variant, one panel per measure, the study's title above them;
  False without matplotlib."""
  summary = [entry for entry in summary if entry['seeds']]
  if not summary:
    return True             # nothing finished: no bars to draw
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(1, len(MEASURES), figsize=(5 * len(MEASURES), 0.45 *
                                                             len(summary) + 1.5), sharey=True)
  labels = [entry['label'] for entry in summary]
  for ax, measure in zip(axes, MEASURES):
    means = [entry[measure]['mean'] for entry in summary]
    sds = [entry[measure]['sd'] for entry in summary]
    colours = ['tab:orange' if entry['variant'] == study.reference else 'tab:blue'
               for entry in summary]
    ax.barh(range(len(summary)), means, xerr=sds, color=colours, capsize=3)
    ax.set_title(MEASURE_LABELS[measure])
    ax.set_xlabel('PoseTrack mAP (mean +- sd over seeds)')
    low = min(m - s for m, s in zip(means, sds))
    ax.set_xlim(max(0.0, low - 5), max(m + s for m, s in zip(means, sds)) + 2)
  axes[0].set_yticks(range(len(summary)), labels)
  axes[0].invert_yaxis()
  if study.title:
    figure.suptitle(study.title)
  figure.tight_layout()
  image = io.BytesIO()
  figure.savefig(image, format='png', dpi=110)
  pyplot.close(figure)
  atomic_files.write_bytes_atomic(path, image.getvalue())   # never half a picture
  return True


def write(out: str, study: Study, records: list[dict], variants: list[str], seeds: list[int],
          command: str, complete: bool, log: Callable[[str], None] = print) -> dict:
  """Writes out/results.json, out/results.md and out/ablation.png; returns the JSON document."""
  summary = summarise(study, records, variants)
  run_seconds = sum(r.get('wall_seconds', 0.0) for r in records)
  document = {'study': study.name, 'command': command, 'complete': complete, 'seeds': seeds,
              'variants': summary,
              'runs': sorted(records, key=lambda r: (r['seed'], r['run']))}
  failures = [r for r in records if r.get('failed')]
  if failures:
    log(f'[ablation] {len(failures)} run(s) failed: ' +
        '; '.join(f'{r["workdir"]}: {r["failed"]}' for r in failures))
  atomic_files.write_json_atomic(os.path.join(out, 'results.json'), document)
  text = markdown(study, summary, run_seconds, seeds)
  if not complete:
    text = '**Incomplete: some runs have not finished.**\n\n' + text
  if study.title:
    text = f'# {study.title}\n\n' + text
  atomic_files.write_bytes_atomic(os.path.join(out, 'results.md'), text.encode())
  if not plot(study, summary, os.path.join(out, 'ablation.png')):
    log('[ablation] matplotlib is not installed: no ablation.png (pip install -e ".[plot]")')
  return document
