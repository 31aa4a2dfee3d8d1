"""Progress in logs that are not a terminal: plain lines with step, rate and ETA, at least every HEARTBEAT_S.
(A training run's lines are checked in tests/test_trackers.py's end-to-end run.)"""

import re
import time

import pytest

from zero_rl.progress import HEARTBEAT_S, PlainProgress, duration, progress_line


@pytest.mark.parametrize("seconds,text", [(0, "0 s"), (12.4, "12 s"), (59.6, "1m00s"), (245, "4m05s"),
                                          (7380, "2h03m"), (-3, "0 s")])
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("done,total,made,made_s,elapsed,status,expected", [
    (12, 60, 12, 24.0, 24.0, "", "GRPO step 12/60 (20%), 2 s/step, ETA 1m36s, elapsed 24 s"),
    (30, 60, 30, 10.0, 10.0, "reward 0.5", "GRPO step 30/60 (50%), 3 step/s, ETA 10 s, elapsed 10 s | reward 0.5"),
    (0, 60, 0, 31.0, 31.0, "", "GRPO step 0/60 (0%), rate -, ETA -, elapsed 31 s"),
    (25, 30, 5, 50.0, 80.0, "", "GRPO step 25/30 (83%), 10 s/step, ETA 50 s, elapsed 1m20s"),  # resumed at 20
])
def test_progress_line(done, total, made, made_s, elapsed, status, expected):
    assert progress_line("GRPO", done, total, made, made_s, elapsed, status=status) == expected


def test_rate_leaves_out_the_time_before_the_first_unit():
    """A slow start (model load, first evaluation) does not count against the rate once two units are done."""
    now = [0.0]
    lines = []
    bar = PlainProgress("GRPO", 10, interval_s=3600, print_fn=lines.append, clock=lambda: now[0])
    now[0] = 100.0  # 90 s of setup, then a 10 s step
    bar.update(1)
    now[0] = 110.0
    bar.update(2)
    bar.close()
    assert "100 s/step" in lines[0] and "ETA 15m00s" in lines[0]  # one unit: all the time so far
    assert "10 s/step" in lines[1] and "ETA 1m20s" in lines[1] and "elapsed 1m50s" in lines[1]


def test_heartbeat_prints_while_a_step_runs_and_stops_on_close():
    lines = []
    bar = PlainProgress("GRPO", 10, interval_s=0.2, print_fn=lines.append)
    bar.update(1, "reward 0.1")
    time.sleep(0.9)  # a long step 2: the heartbeat speaks for it
    bar.close()
    count = len(lines)
    time.sleep(0.4)
    assert len(lines) == count, "the heartbeat went on after close()"
    assert lines[0].startswith("GRPO step 1/10 (10%)") and lines[0].endswith("| reward 0.1")
    beats = lines[1:]
    assert 2 <= len(beats) <= 6, lines
    assert all("working on step 2; last: reward 0.1" in line and "ETA" in line for line in beats), beats


def test_no_line_missing_for_longer_than_the_interval():
    stamps = []
    bar = PlainProgress("base", 100, interval_s=0.15, print_fn=lambda line: stamps.append(time.monotonic()))
    for step in range(1, 4):
        time.sleep(0.25)
        bar.update(step, quiet=True)  # progress without a line of its own: only the heartbeat reports it
    bar.close()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(stamps) >= 4 and max(gaps) < 0.15 + 0.35, gaps  # interval + one poll + scheduler slack


def test_default_heartbeat_is_at_most_30_s():
    assert HEARTBEAT_S <= 30


def test_base_build_prints_plain_progress(tmp_path, monkeypatch):
    """The base-model build in a non-terminal log: heartbeat lines from the start, and step lines with ETA."""
    from zero_rl.embedded import BaseModelRecipe, pretrain

    lines = []
    recipe = BaseModelRecipe(steps=10, batch_size=2, seq_len=32, hidden_size=32, intermediate_size=64,
                             precision="float32")
    pretrain(tmp_path / "base", recipe, progress=True, log=lines.append, heartbeat_s=0.1)
    progress = [line for line in lines if line.startswith("pretraining base model: step")]
    assert any(re.search(r"step 10/10 \(100%\), .*ETA 0 s", line) for line in progress), lines
    assert any("step 0/10" in line and "working on step 1" in line for line in progress), lines  # tokenizer build
