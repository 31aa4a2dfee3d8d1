"""The training report: one self-contained report.html (plots embedded, and written as PNGs beside it) from what a
run folder holds: metrics.jsonl (per step), eval.jsonl (held-out), samples.jsonl (a few completions per step),
config.yaml and, when the train command wrote it, report.json (before/after).

`zero-rl report RUN_DIR` writes RUN_DIR/report.html; `zero-rl train` writes it at the end of a run;
`zero-rl report --compare RUN_A RUN_B` draws the runs on shared axes. Every plot is a <figure data-plot=ID> and
every table a <table data-table=ID>, so a test (or a script) can find them.
"""

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

LINE_STYLES = ("-", "--", ":", "-.")
TIME_PARTS = ("generate", "score", "values", "update", "critic", "sync")
"""time/<part> keys of a step, in the loop's order; their sum is time/step."""


def _reward_components(keys) -> list:
    return sorted(k for k in keys if re.fullmatch(r"reward/[^/]+", k) and k not in ("reward/total", "reward/total_std"))


def _keys_like(pattern: str):
    return lambda keys: sorted(k for k in keys if re.fullmatch(pattern, k))


@dataclass(frozen=True)
class Plot:
    id: str
    title: str
    ylabel: str
    keys: object  # a tuple of metric names, or a function: the run's metric names -> the ones to draw
    source: str = "metrics"  # metrics (per step) or eval (held-out rows)
    note: str = ""  # shown when no run logged any of the keys: why, and what turns it on


PLOTS = (
    Plot("reward", "Reward: total and each component (mean over the step's completions)", "reward",
         lambda keys: ["reward/total"] + _reward_components(keys)),
    Plot("accuracy_format", "Training accuracy and format rate", "share of completions", ("accuracy", "format_rate")),
    Plot("length", "Completion length", "tokens", ("completion/length_mean", "completion/length_max")),
    Plot("clipped", "Completions cut at max_new_tokens", "share", ("completion/clipped_share",)),
    Plot("entropy", "Policy entropy (per token)", "nats", ("loss/entropy",)),
    Plot("kl", "KL to the reference", "KL", _keys_like(r"loss/kl|kl/.+"),
         note="logged when algorithm.beta > 0 (or PPO's kl_reward_coef)"),
    Plot("clip_fraction", "Clip fraction (tokens whose ratio was clipped)", "share", ("loss/clip_fraction",)),
    Plot("grad_norm", "Gradient norm (before clipping)", "norm", _keys_like(r"loss/grad_norm|critic/grad_norm")),
    Plot("zero_std", "Groups with equal rewards (no learning signal)", "share of groups", ("groups/zero_std_share",)),
    Plot("mismatch", "Generator / trainer log-prob mismatch", "|logp difference|", _keys_like(r"mismatch/.+"),
         note="logged by the policy update when the generator's log-probs are kept"),
    Plot("time_split", "Time per step, by phase (stacked)", "seconds", tuple(f"time/{p}" for p in TIME_PARTS)),
    Plot("tokens_per_s", "Generation throughput", "generated tokens / s", ("tokens_per_s",)),
    Plot("held_out", "Held-out: greedy accuracy and sampled pass@k", "share of problems",
         lambda keys: [k for k in ("accuracy",) if k in keys] + sorted(
             (k for k in keys if re.fullmatch(r"sampled/pass@\d+", k)), key=lambda k: int(k.rsplit("@", 1)[1])),
         source="eval", note="eval.jsonl has no rows yet; maj@k and mean@k are in the held-out table"),
)
"""Every plot of the report, in page order (the issue's list: reward and components, accuracy, format rate,
length (mean, max, clipped share), entropy, KL, clip fraction, grad norm, zero-std share, mismatch, time split,
tokens/s, held-out greedy and sampled pass@k)."""


def read_jsonl(path: Path) -> list:
    """Rows of a JSON-lines file; a missing file is no rows, and a cut last line (a killed run) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


@dataclass
class Run:
    label: str
    directory: Path
    metrics: list
    evals: list
    samples: list
    config: dict = field(default_factory=dict)
    before_after: dict | None = None

    def keys(self, source: str) -> set:
        rows = self.metrics if source == "metrics" else self.evals
        return {k for row in rows for k, v in row.items() if _finite(v) and k not in ("step", "time")}

    def series(self, key: str, source: str = "metrics") -> tuple[list, list]:
        rows = self.metrics if source == "metrics" else self.evals
        points = sorted((row["step"], row[key]) for row in rows if "step" in row and _finite(row.get(key)))
        return [p[0] for p in points], [p[1] for p in points]


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_run(directory, label: str | None = None) -> Run:
    """A run folder's rows; raises FileNotFoundError when it has no metrics.jsonl (not a run folder)."""
    import yaml

    directory = Path(directory)
    if not (directory / "metrics.jsonl").exists():
        raise FileNotFoundError(f"{directory}: no metrics.jsonl; give the folder a `zero-rl train` run wrote "
                                f"(its run.output_dir, e.g. runs/latest)")
    config = {}
    if (directory / "config.yaml").exists():
        config = yaml.safe_load((directory / "config.yaml").read_text()) or {}
    before_after = None
    if (directory / "report.json").exists():
        before_after = json.loads((directory / "report.json").read_text())
    return Run(label or directory.resolve().name, directory, read_jsonl(directory / "metrics.jsonl"),
               read_jsonl(directory / "eval.jsonl"), read_jsonl(directory / "samples.jsonl"), config, before_after)


# ---- plots --------------------------------------------------------------------------------------------------------


def _plot_keys(plot: Plot, run: Run) -> list:
    keys = run.keys(plot.source)
    wanted = plot.keys(keys) if callable(plot.keys) else list(plot.keys)
    return [k for k in wanted if k in keys]


def draw(plot: Plot, runs: list, path: Path) -> Path:
    """One PNG: each run in its colour, each metric in its line style, on shared axes; a note where no run has
    the plot's metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if plot.id == "time_split":
        return _draw_time_split(plot, runs, path)
    figure, axis = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    drawn = 0
    for run_index, run in enumerate(runs):
        for key_index, key in enumerate(_plot_keys(plot, run)):
            steps, values = run.series(key, plot.source)
            label = key if len(runs) == 1 else f"{run.label}: {key}"
            axis.plot(steps, values, LINE_STYLES[key_index % len(LINE_STYLES)],
                      color=f"C{run_index if len(runs) > 1 else key_index}", label=label,
                      marker="o" if len(steps) <= 30 else None, markersize=3, linewidth=1.4)
            drawn += 1
    _finish(axis, plot, drawn)
    return _save(figure, path)


def _draw_time_split(plot: Plot, runs: list, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(runs), figsize=(6.4 if len(runs) == 1 else 4.2 * len(runs), 3.6), dpi=100,
                                sharey=True, squeeze=False)
    for axis, run in zip(axes[0], runs):
        keys = [k for k in plot.keys if k in run.keys("metrics")]
        steps = sorted({row["step"] for row in run.metrics if "step" in row})
        by_step = {row["step"]: row for row in run.metrics if "step" in row}
        if keys and steps:
            layers = [[by_step[s].get(k) if _finite(by_step[s].get(k)) else 0.0 for s in steps] for k in keys]
            axis.stackplot(steps, layers, labels=[k.removeprefix("time/") for k in keys],
                           colors=[f"C{TIME_PARTS.index(k.removeprefix('time/'))}" for k in keys], alpha=0.85)
        if len(runs) > 1:
            axis.set_title(run.label, fontsize=9)
        _finish(axis, plot, len(keys) if steps else 0, title=len(runs) == 1)
    if len(runs) > 1:
        figure.suptitle(plot.title, fontsize=10)
    return _save(figure, path)


def _finish(axis, plot: Plot, drawn: int, title: bool = True) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    if title:
        axis.set_title(plot.title, fontsize=10)
    axis.set_xlabel("held-out evaluation at step" if plot.source == "eval" else "training step")
    axis.set_ylabel(plot.ylabel)
    axis.grid(True, alpha=0.3)
    if drawn:
        axis.legend(fontsize=7, loc="best")
    else:
        axis.text(0.5, 0.5, "not logged in this run" + (f"\n({plot.note})" if plot.note else ""),
                  ha="center", va="center", transform=axis.transAxes, color="#777", fontsize=9)


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    plt.close(figure)
    return path


# ---- tables ---------------------------------------------------------------------------------------------------------

CONFIG_ROWS = ("model.name_or_path", "task.name", "task.options", "algorithm.name", "algorithm.advantage",
               "algorithm.loss_aggregation", "algorithm.beta", "generation.backend", "generation.group_size",
               "generation.max_new_tokens", "generation.temperature", "optim.lr", "run.steps", "run.prompts_per_step",
               "run.seed")
SUMMARY_ROWS = ("reward/total", "accuracy", "format_rate", "completion/length_mean", "completion/clipped_share",
                "loss/entropy", "loss/kl", "groups/zero_std_share", "time/step", "tokens_per_s")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(table_id: str, header: list, rows: list) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table data-table="{table_id}"><tr>{head}</tr>{body}</table>'


def _config_value(config: dict, dotted: str):
    section, _, name = dotted.partition(".")
    value = (config.get(section) or {}).get(name)
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def config_table(runs: list) -> str:
    rows = [[html.escape(key)] + [_fmt(_config_value(run.config, key)) for run in runs] for key in CONFIG_ROWS]
    return _table("config", ["setting"] + [run.label for run in runs], rows)


def summary_table(runs: list) -> str:
    """Each headline metric at the first and the last step of each run."""
    header = ["metric"] + [f"{run.label}: {where}" for run in runs for where in ("first step", "last step")]
    rows = []
    for key in SUMMARY_ROWS:
        cells = []
        for run in runs:
            _, values = run.series(key)
            cells += [_fmt(values[0]) if values else "-", _fmt(values[-1]) if values else "-"]
        rows.append([html.escape(key)] + cells)
    steps = [f"{len(run.metrics)} steps" for run in runs]
    return _table("summary", header, rows) + f"<p class='note'>{', '.join(steps)} logged.</p>"


def held_out_table(runs: list) -> str:
    """One row per held-out evaluation of each run: greedy accuracy, format, length, sampled pass/maj/mean@k."""
    present = set().union(*(run.keys("eval") for run in runs))
    sampled = sorted((k for k in present if re.fullmatch(r"sampled/(pass|maj|mean)@\d+", k)),
                     key=lambda k: (k.split("/")[1].split("@")[0], int(k.rsplit("@", 1)[1])))
    keys = [k for k in ("accuracy", "format", "mean_length") if k in present] + sampled
    rows = []
    for run in runs:
        for row in sorted(run.evals, key=lambda r: r.get("step", 0)):
            rows.append([html.escape(run.label), _fmt(row.get("step")), _fmt(row.get("n"))] +
                        [_fmt(row.get(k)) for k in keys])
    header = ["run", "step", "problems"] + [k.removeprefix("sampled/") + (" (sampled)" if k in sampled else
                                                                          " (greedy)") for k in keys]
    return _table("held-out", header, rows or [["-", "-", "-"] + ["-"] * len(keys)])


def before_after_table(runs: list) -> str:
    rows = []
    for run in runs:
        report = run.before_after
        if not report:
            continue
        for name, path in (("greedy accuracy", ("greedy", "accuracy")), ("greedy format", ("greedy", "format"))):
            before = (report["before"].get(path[0]) or {}).get(path[1])
            after = (report["after"].get(path[0]) or {}).get(path[1])
            rows.append([html.escape(run.label), name, _fmt(before), _fmt(after)])
        for key in sorted(k for k in report["before"].get("sampled", {}) if k.startswith("pass@")):
            rows.append([html.escape(run.label), f"sampled {key}", _fmt(report["before"]["sampled"][key]),
                         _fmt(report["after"].get("sampled", {}).get(key))])
    if not rows:
        return ("<p class='note' data-table='before-after'>No report.json in this run folder (the train command "
                "writes it unless --no-report).</p>")
    return _table("before-after", ["run", "held-out", "before RL", "after RL"], rows)


def sample_steps(steps: list) -> list:
    """The first, middle and last of the logged steps (fewer when fewer were logged)."""
    steps = sorted(set(steps))
    if not steps:
        return []
    return sorted({steps[0], steps[len(steps) // 2], steps[-1]})


def samples_section(run: Run) -> str:
    by_step = {row["step"]: row["samples"] for row in run.samples if "step" in row and "samples" in row}
    parts = []
    for step in sample_steps(list(by_step)):
        rows = []
        for sample in by_step[step]:
            components = ", ".join(f"{html.escape(k)} {_fmt(v)}" for k, v in sample.get("components", {}).items())
            prompt = sample.get("prompt") or ""
            rows.append([html.escape(str(sample.get("example_id"))), html.escape(str(sample.get("answer"))),
                         f"<details><summary>prompt</summary><pre>{html.escape(prompt)}</pre></details>"
                         f"<pre>{html.escape(sample.get('completion', ''))}</pre>",
                         _fmt(sample.get("reward")), components,
                         f"{sample.get('length')} ({html.escape(str(sample.get('finish_reason')))})"])
        parts.append(f"<h3>{html.escape(run.label)}: step {step}</h3>" + _table(
            f"samples-{run.label}-step-{step}", ["example", "gold", "completion", "reward", "components",
                                                 "tokens (finish)"], rows))
    if not parts:
        return f"<p class='note'>{html.escape(run.label)}: no samples.jsonl (written by runs of this version on).</p>"
    return "".join(parts)


# ---- the page -------------------------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1320px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); gap: 0.6em; }
figure { margin: 0; } figure img { width: 100%; height: auto; }
pre { white-space: pre-wrap; margin: 0.2em 0; max-width: 60em; max-height: 14em; overflow: auto; }
.note { color: #666; font-size: 0.9em; }
.side { display: flex; flex-wrap: wrap; gap: 2.5em; } .side h2 { margin-top: 0.6em; }
"""

CHECK_SCRIPT = """<script>
// data-images-decoded on <body>: how many of the page's images the browser decoded (for checks and tests)
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-decoded", decoded + "/" + images.length);
});
</script>"""


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(runs: list, out_dir, title: str | None = None) -> Path:
    """report.html and report_plots/<plot>.png in out_dir for one run, or several on shared axes."""
    out_dir = Path(out_dir)
    plots_dir = out_dir / "report_plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    title = title or ("Training report: " + " vs ".join(run.label for run in runs))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             "<p class='note'>" + "<br>".join(f"{html.escape(run.label)}: {html.escape(str(run.directory.resolve()))}"
                                              for run in runs) + "</p>",
             "<div class='side'><div><h2>Summary</h2>", summary_table(runs), "</div><div><h2>Setup</h2>",
             config_table(runs), "</div></div><h2>Curves</h2><div class='plots'>"]
    for plot in PLOTS:
        path = draw(plot, runs, plots_dir / f"{plot.id}.png")
        parts.append(f'<figure data-plot="{plot.id}">{_image(path)}</figure>')
    parts += ["</div><h2>Held-out</h2>", before_after_table(runs), held_out_table(runs),
              "<h2>Sampled completions (first, middle and last logged steps)</h2>"]
    parts += [samples_section(run) for run in runs]
    parts.append(CHECK_SCRIPT + "</body></html>")
    path = out_dir / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def report_run(run_dir) -> Path:
    """RUN_DIR/report.html for one run."""
    return write_report([load_run(run_dir)], run_dir)


def compare_runs(run_dirs: list, out_dir=None) -> Path:
    """One report with the runs on shared axes; default folder: RUN_A/compare/."""
    labels, runs = set(), []
    for directory in run_dirs:
        label = Path(directory).resolve().name
        base, suffix = label, 2
        while label in labels:
            label, suffix = f"{base}#{suffix}", suffix + 1
        labels.add(label)
        runs.append(load_run(directory, label))
    out_dir = Path(out_dir) if out_dir else Path(run_dirs[0]) / "compare"
    return write_report(runs, out_dir, "Training runs compared: " + " vs ".join(run.label for run in runs))


def screenshot(html_path, png_path, width: int = 1320, height: int = 2200, browser: str | None = None) -> Path:
    """A PNG of the page as headless Chromium renders it (for the README); needs the `chromium` package."""
    import shutil
    import subprocess

    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (Debian/Ubuntu: apt-get install chromium)")
    png_path = Path(png_path).resolve()
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png_path}",
                    Path(html_path).resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return png_path
