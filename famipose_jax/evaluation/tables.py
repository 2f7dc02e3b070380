"""Result tables in Markdown: one row per result, one column per entry of `result.columns`."""

from __future__ import annotations

from typing import Any, Mapping


def format_table(results: Any | Mapping[str, Any], decimals: int = 1) -> str:
  """The table of one result, or of several with one labelled row each.

  Args:
    results: a result with a `columns` dict (PoseTrackResult: Head | Shoulder | ... | Mean;
      PoseTrackingResult: Head | ... | Ankle | MOTA | MOTP | Prec | Rec), or a mapping such as
      {'backbone': r1, 'final': r2}; the columns are the first result's.
    decimals: digits after the point (poseval prints 1).
  """
  if hasattr(results, 'columns'):
    rows, label_header = {'': results}, None
  else:
    rows, label_header = dict(results), 'Method'
  names = list(next(iter(rows.values())).columns)
  values = {label: [f'{result.columns[n]:.{decimals}f}' for n in names]
            for label, result in rows.items()}
  # At least 'xxx.x' wide, wider for a long name or value (a MOTA of -250.0).
  widths = [max([len(n), decimals + 4] + [len(v[i]) for v in values.values()])
            for i, n in enumerate(names)]
  header_cells = [n.rjust(w) for n, w in zip(names, widths)]
  if label_header:
    label_width = max([len(label_header)] + [len(k) for k in rows])
    header_cells.insert(0, label_header.ljust(label_width))
  lines = ['| ' + ' | '.join(header_cells) + ' |',
           '|' + '|'.join('-' * (len(c) + 2) for c in header_cells) + '|']
  for label, row in values.items():
    cells = [v.rjust(w) for v, w in zip(row, widths)]
    if label_header:
      cells.insert(0, label.ljust(label_width))
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)
