"""Eval results for people: pass@k-vs-k plots (PNG), one self-contained HTML page, and side-by-side comparison
of two or more result folders (base vs RL)."""

import base64
import html
import json
import re
from pathlib import Path

METRIC_ROWS = ("accuracy", "format", "mean_length", "truncated")


def summary_line(task_name: str, summary: dict) -> str:
    ks = summary["ks"]
    parts = [f"pass@{k} {100 * summary[f'pass@{k}']:.1f}" for k in ks]
    parts.append(f"maj@{ks[-1]} {100 * summary[f'maj@{ks[-1]}']:.1f}")
    parts.append(f"format {100 * summary['format']:.1f}" if "format" in summary else "")
    return (f"{task_name}: {summary['problems']} problems x {summary['n']}  " + "  ".join(p for p in parts if p)
            + f"  mean length {summary['mean_length']:.0f} tok  truncated {100 * summary['truncated']:.1f} %")


def _finish(figure, axis, path) -> Path:
    """Grid, legend, layout; write the PNG and free the figure."""
    import matplotlib.pyplot as plt

    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    plt.close(figure)
    return path


def plot_pass_at_k(runs: dict, task_name: str, path) -> Path:
    """pass@k (with 95 % intervals) and maj@k against k, one line per run; `runs` is {label: task summary}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), dpi=110)
    for index, (label, summary) in enumerate(runs.items()):
        color = f"C{index}"
        ks = summary["ks"]
        values = [100 * summary[f"pass@{k}"] for k in ks]
        low = [100 * summary["ci"][f"pass@{k}"][0] for k in ks]
        high = [100 * summary["ci"][f"pass@{k}"][1] for k in ks]
        axis.plot(ks, values, "o-", color=color, label=f"{label} pass@k")
        axis.fill_between(ks, low, high, color=color, alpha=0.15, linewidth=0)
        axis.plot(ks, [100 * summary[f"maj@{k}"] for k in ks], "s--", color=color, alpha=0.7,
                  label=f"{label} maj@k")
    axis.set_xscale("log", base=2)
    all_ks = sorted({k for s in runs.values() for k in s["ks"]})
    axis.set_xticks(all_ks, [str(k) for k in all_ks])
    axis.set_ylim(-2, 102)
    axis.set_xlabel("k (samples)")
    axis.set_ylabel("% of problems")
    sizes = {(s["problems"], s["n"]) for s in runs.values()}
    size = "{} problems, n = {}".format(*next(iter(sizes))) if len(sizes) == 1 else "runs differ in problems or n"
    axis.set_title(f"{task_name}: {size} (shaded: 95% bootstrap CI of pass@k)", fontsize=9)
    return _finish(figure, axis, path)


_CURVE_KEY = re.compile(r"(?:^|/)(?:pass|maj)@(\d+)$")


def plot_eval_history(rows: list, path, title: str = "held-out during training") -> Path:
    """pass@k and maj@k against training step, one line per metric key, from the rows of a run's eval.jsonl
    (each a dict with "step" and keys like "pass@1", "sampled/pass@8", "maj@8")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for row in rows for k in row if _CURVE_KEY.search(k)},
                  key=lambda k: ("maj@" in k, int(_CURVE_KEY.search(k).group(1)), k))
    if not keys:
        raise ValueError("no pass@k or maj@k keys in these eval rows; was the sampled held-out eval enabled?")
    figure, axis = plt.subplots(figsize=(6, 4), dpi=110)
    for index, key in enumerate(keys):
        points = sorted((row["step"], row[key]) for row in rows if key in row)
        axis.plot([p[0] for p in points], [100 * p[1] for p in points], "s--" if "maj@" in key else "o-",
                  color=f"C{index}", label=key, markersize=4)
    axis.set_xlabel("training step")
    axis.set_ylabel("% of problems")
    axis.set_ylim(-2, 102)
    axis.set_title(title, fontsize=9)
    return _finish(figure, axis, path)


def _png_tag(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).name)}" src="data:image/png;base64,{data}">'


def _value(summary: dict, key: str) -> str:
    """A metric as HTML text: a percentage with its bootstrap interval, a length in tokens, or "-"."""
    if key not in summary:
        return "-"
    if key == "mean_length":
        return f"{summary[key]:.1f}"
    low, high = summary["ci"].get(key, (None, None))
    interval = f' <span class="ci">[{100 * low:.1f}, {100 * high:.1f}]</span>' if low is not None else ""
    return f"{100 * summary[key]:.1f}{interval}"


def _cell(summary: dict, key: str) -> str:
    return f"<td>{_value(summary, key)}</td>"


def metric_keys(summary: dict) -> list:
    ks = summary["ks"]
    return [f"pass@{k}" for k in ks] + [f"maj@{k}" for k in ks] + [f"mean@{k}" for k in ks] + \
        [m for m in METRIC_ROWS if m in summary]


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.ci { color: #888; font-size: 0.85em; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; max-height: 18em; overflow: auto; }
details { margin: 0.3em 0; } .ok { color: #070; } .bad { color: #a00; }
"""


def _sample_block(record: dict) -> str:
    verdict = '<span class="ok">correct</span>' if record["correct"] else '<span class="bad">wrong</span>'
    head = (f"problem {html.escape(str(record['problem_id']))}, sample {record['sample_index']}: {verdict}; "
            f"answer {html.escape(repr(record['answer']))}, gold {html.escape(repr(record['gold']))}, "
            f"{record['length']} tokens{' (truncated)' if record['truncated'] else ''}")
    return f"<details><summary>{head}</summary><pre>{html.escape(record['completion'])}</pre></details>"


def pick_samples(records: list, count: int = 3) -> tuple[list, list]:
    """A few correct and a few wrong samples, from different problems where possible (first seen first)."""
    chosen = {True: [], False: []}
    seen = {True: set(), False: set()}
    for record in records:
        kind = bool(record["correct"])
        if len(chosen[kind]) < count and record["problem_index"] not in seen[kind]:
            chosen[kind].append(record)
            seen[kind].add(record["problem_index"])
    return chosen[True], chosen[False]


def overview_table(tasks: dict) -> str:
    """One row per task: problems, pass@1, pass@k and maj@k at the largest k, format rate."""
    rows = ["<h2>Overview</h2><table><tr><th>task</th><th>problems &times; n</th><th>pass@1</th>"
            "<th>pass@k (largest k)</th><th>maj@k (largest k)</th><th>format</th></tr>"]
    for task_name, task_summary in tasks.items():
        k = task_summary["ks"][-1]
        rows.append(f"<tr><td>{html.escape(task_name)}</td><td>{task_summary['problems']} &times; "
                    f"{task_summary['n']}</td>{_cell(task_summary, 'pass@1')}"
                    f"<td>k={k}: {_value(task_summary, f'pass@{k}')}</td>{_cell(task_summary, f'maj@{k}')}"
                    f"{_cell(task_summary, 'format')}</tr>")
    rows.append("</table>")
    return "".join(rows)


def write_html(output_dir, summary: dict, samples_per_kind: int = 3) -> Path:
    """report.html in output_dir: settings, one table per task, its plot, a few correct and wrong samples."""
    from zero_rl.evaluate import read_jsonl

    output_dir = Path(output_dir)
    meta = summary["meta"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>zero-rl eval: "
             f"{html.escape(str(meta.get('model')))}</title><style>{STYLE}</style></head><body>",
             f"<h1>Evaluation of {html.escape(str(meta.get('model')))}</h1>",
             "<p>" + ", ".join(f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in meta.items()) + "</p>",
             "<p>pass@k: unbiased estimator 1 &minus; C(n&minus;c,k)/C(n,k) averaged over problems. maj@k: vote over "
             "extracted answers in consecutive blocks of k samples (ties: earliest group). mean@k: accuracy of the "
             "first k samples. Values in %, with 95% bootstrap intervals over problems in brackets.</p>"]
    if len(summary["tasks"]) > 1:
        parts.append(overview_table(summary["tasks"]))
    for task_name, task_summary in summary["tasks"].items():
        parts.append(f"<h2>{html.escape(task_name)}</h2>")
        parts.append(f"<p>{task_summary['problems']} problems &times; n = {task_summary['n']} samples</p>")
        parts.append("<table><tr><th>k</th><th>pass@k</th><th>maj@k</th><th>mean@k</th></tr>")
        for k in task_summary["ks"]:
            parts.append(f"<tr><td>{k}</td>" + "".join(_cell(task_summary, f"{m}@{k}") for m in ("pass", "maj", "mean"))
                         + "</tr>")
        parts.append("</table><table><tr><th>over all samples</th><th>value</th></tr>")
        for key in (m for m in METRIC_ROWS if m in task_summary):
            unit = " (tokens)" if key == "mean_length" else " (%)"
            parts.append(f"<tr><td>{html.escape(key + unit)}</td>{_cell(task_summary, key)}</tr>")
        parts.append("</table>")
        plot = output_dir / f"pass_at_k_{task_name}.png"
        if plot.exists():
            parts.append(_png_tag(plot))
        samples = output_dir / f"samples_{task_name}.jsonl"
        if samples.exists():
            correct, wrong = pick_samples(read_jsonl(samples), samples_per_kind)
            parts.append("<h3>Correct samples</h3>" + ("".join(map(_sample_block, correct)) or "<p>none</p>"))
            parts.append("<h3>Wrong samples</h3>" + ("".join(map(_sample_block, wrong)) or "<p>none</p>"))
    parts.append("</body></html>")
    path = output_dir / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _label(directory: Path, meta: dict, taken: set) -> str:
    label = f"{meta.get('model', 'model')} ({directory.name})"
    base, suffix = label, 2
    while label in taken:
        label, suffix = f"{base} #{suffix}", suffix + 1
    taken.add(label)
    return label


def compare(result_dirs: list, output_dir) -> Path:
    """Side-by-side table and plot of the tasks the result folders share: comparison.json, comparison_<task>.png,
    comparison.html in output_dir."""
    runs = {}
    for directory in map(Path, result_dirs):
        path = directory / "summary.json"
        if not path.exists():
            raise FileNotFoundError(f"{directory}: no summary.json (is it a `zero-rl eval` output folder?)")
        summary = json.loads(path.read_text())
        runs[_label(directory, summary["meta"], set(runs))] = summary
    shared = [t for t in next(iter(runs.values()))["tasks"] if all(t in r["tasks"] for r in runs.values())]
    if not shared:
        raise ValueError("the result folders share no task: " +
                         "; ".join(f"{label}: {', '.join(r['tasks'])}" for label, r in runs.items()))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    labels = list(runs)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>zero-rl eval comparison</title>"
             f"<style>{STYLE}</style></head><body><h1>Comparison</h1><ul>"]
    for label, run in runs.items():
        meta = run["meta"]
        parts.append(f"<li><b>{html.escape(label)}</b>: " +
                     ", ".join(f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in meta.items()) + "</li>")
    parts.append("</ul><p>Values in %, 95% bootstrap intervals over problems in brackets.</p>")
    table = {}
    for task_name in shared:
        task_runs = {label: runs[label]["tasks"][task_name] for label in labels}
        counts = {(s["problems"], s["n"]) for s in task_runs.values()}
        parts.append(f"<h2>{html.escape(task_name)}</h2>")
        if len(counts) > 1:
            parts.append("<p class='bad'>warning: the runs differ in problems or n: " +
                         html.escape(str(sorted(counts))) + "</p>")
        keys = [k for k in metric_keys(task_runs[labels[0]]) if all(k in s for s in task_runs.values())]
        parts.append("<table><tr><th>metric</th>" + "".join(f"<th>{html.escape(l)}</th>" for l in labels) + "</tr>")
        for key in keys:
            parts.append(f"<tr><td>{html.escape(key)}</td>" + "".join(_cell(task_runs[l], key) for l in labels)
                         + "</tr>")
        parts.append("</table>")
        plot = plot_pass_at_k(task_runs, task_name, output_dir / f"comparison_{task_name}.png")
        parts.append(_png_tag(plot))
        table[task_name] = {label: {k: task_runs[label][k] for k in keys} for label in labels}
    parts.append("</body></html>")
    (output_dir / "comparison.json").write_text(json.dumps(table, indent=2))
    path = output_dir / "comparison.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
