"""The training report: `zero-rl train` writes report.html at the end; `zero-rl report` and `--compare` write it
from run folders; headless Chromium (Debian's `chromium`) renders it and every plot and table is there."""

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from zero_rl.run_report import PLOTS, load_run, sample_steps

STEPS = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A through `zero-rl train` (the embedded base model, before/after report, automatic training report);
    run B through the training loop with a tiny random model (another seed and learning rate)."""
    from zero_rl.cli import main
    from zero_rl.config import build_config
    from zero_rl.embedded import build_tiny_random
    from zero_rl.tasks import get_task
    from zero_rl.trainer import train

    root = tmp_path_factory.mktemp("runs")
    common = [f"run.steps={STEPS}", "run.prompts_per_step=2", "generation.group_size=2", "generation.max_new_tokens=12",
              "task.eval_size=4", "task.eval_samples=2", "task.eval_ks=[1, 2]", "run.eval_every=2",
              "run.progress=false", "optim.warmup_steps=0", "algorithm.beta=0.01"]
    assert main(["train", "--output-dir", str(root / "run_a"), *common, "task.options.train_size=40",
                 "task.options.test_size=8"]) == 0
    model, tokenizer = build_tiny_random(seed=3)
    train(build_config({}, [*common, f"run.output_dir={root / 'run_b'}", "optim.lr=1e-3"]), model=model,
          tokenizer=tokenizer, task=get_task("arithmetic", train_size=40, test_size=8))
    return root / "run_a", root / "run_b"


class _Collect(HTMLParser):
    """Figures (data-plot) with their images, tables (data-table), and the body's data-images-decoded."""

    def __init__(self):
        super().__init__()
        self.plots, self.tables, self.body, self.figure = {}, [], {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "data-plot" in attrs:
            self.figure = attrs["data-plot"]
            self.plots[self.figure] = []
        elif tag == "img" and self.figure:
            self.plots[self.figure].append(attrs.get("src", ""))
        elif "data-table" in attrs:
            self.tables.append(attrs["data-table"])
        elif tag == "body":
            self.body = attrs

    def handle_endtag(self, tag):
        if tag == "figure":
            self.figure = None


def render_in_chromium(path: Path) -> _Collect:
    """The DOM after Chromium loaded the page and ran its load handler (which counts the decoded images)."""
    browser = shutil.which("chromium")
    assert browser, "headless Chromium is needed (Debian: apt-get install chromium; .ci/run installs it)"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                           "--dump-dom", path.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    page = _Collect()
    page.feed(done.stdout)
    return page


def check_page(page: _Collect, run_labels: list, sample_steps_by_run: dict) -> None:
    assert list(page.plots) == [plot.id for plot in PLOTS]
    assert all(len(images) == 1 and images[0].startswith("data:image/png;base64,") for images in page.plots.values())
    assert page.body.get("data-images-decoded") == f"{len(PLOTS)}/{len(PLOTS)}", page.body  # decoded by the browser
    assert {"config", "summary", "held-out"} <= set(page.tables)
    for label in run_labels:
        expected = [f"samples-{label}-step-{step}" for step in sample_steps_by_run[label]]
        assert [t for t in page.tables if t.startswith(f"samples-{label}-")] == expected


@pytest.mark.parametrize("steps,chosen", [([], []), ([4], [4]), ([1, 2], [1, 2]), ([1, 2, 3], [1, 2, 3]),
                                          ([5, 1, 3, 2, 4], [1, 3, 5]), (list(range(1, 61)), [1, 31, 60])])
def test_sample_steps_first_middle_last(steps, chosen):
    assert sample_steps(steps) == chosen


def test_train_writes_the_report_and_chromium_shows_every_plot_and_table(runs):
    run_a, _ = runs
    path = run_a / "report.html"
    assert path.exists(), "zero-rl train did not write the training report"
    page = render_in_chromium(path)
    check_page(page, [run_a.name], {run_a.name: [1, 2, 3]})
    assert "before-after" in page.tables  # from report.json, which the train command wrote
    assert sorted(p.name for p in (run_a / "report_plots").glob("*.png")) == sorted(f"{p.id}.png" for p in PLOTS)


def test_report_content_matches_the_run(runs):
    """The plotted series are the run's rows: the held-out curve has the eval steps, the reward one value per
    step, KL is a column (beta > 0; null in a step with no token to learn from), and the samples on the page are
    the ones samples.jsonl holds."""
    run_a, _ = runs
    run = load_run(run_a)
    assert [row["step"] for row in run.metrics] == [1, 2, 3]
    assert run.series("sampled/pass@2", "eval")[0] == [0, 2, 3]
    assert len(run.series("reward/total")[1]) == STEPS and all("loss/kl" in row for row in run.metrics)
    text = (run_a / "report.html").read_text()
    for row in run.samples:
        for sample in row["samples"]:
            escaped = sample["completion"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            assert escaped in text


def test_compare_two_runs_on_shared_axes(runs, capsys):
    from zero_rl.cli import main

    run_a, run_b = runs
    out = run_a.parent / "comparison"
    assert main(["report", "--compare", str(run_a), str(run_b), "--out", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    page = render_in_chromium(out / "report.html")
    check_page(page, [run_a.name, run_b.name], {run_a.name: [1, 2, 3], run_b.name: [1, 2, 3]})
    assert "before-after" in page.tables  # run A has report.json; run B's row is absent, not an error


def test_report_command_on_a_run_folder_and_errors(runs, tmp_path, capsys):
    from zero_rl.cli import main

    _, run_b = runs
    assert main(["report", str(run_b)]) == 0
    assert (run_b / "report.html").exists()
    assert main(["report", str(tmp_path)]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
