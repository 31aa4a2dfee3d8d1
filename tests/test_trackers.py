"""Trackers (run.report_to): each backend writes what metrics.jsonl holds, read back from its own files; a tracker
that fails mid-run is logged and switched off while training goes on; a missing backend names its extra."""

import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zero_rl.config import ConfigError, build_config
from zero_rl.trackers import TRACKERS, Trackers, mlflow_key, scalars

ROWS = [  # (step, row) as RunLog hands them over: nulls (NaN in JSON) and bookkeeping keys included
    (1, {"reward/total": 0.25, "reward/accuracy": 0.0, "loss/kl": None, "completion/length_mean": 31.0,
         "time/step": 1.5, "step": 1, "time": 1.7e9}),
    (2, {"reward/total": 0.5, "reward/accuracy": 0.25, "loss/kl": 0.01, "completion/length_mean": 28.0,
         "time/step": 1.25, "step": 2, "time": 1.7e9}),
    (3, {"reward/total": 0.75, "reward/accuracy": 0.5, "loss/kl": float("nan"), "completion/length_mean": 20.0,
         "time/step": 1.0, "step": 3, "time": 1.7e9}),
]
EVAL = (3, {"accuracy": 0.5, "sampled/pass@4": 0.75, "n": 8, "step": 3})


def expected() -> dict:
    """{metric: [(step, value)]} a tracker must hold after ROWS and EVAL (eval keys under eval/)."""
    out = {}
    for step, row in ROWS:
        for key, value in scalars(row).items():
            out.setdefault(key, []).append((step, value))
    for key, value in scalars(EVAL[1]).items():
        out.setdefault(f"eval/{key}", []).append((EVAL[0], value))
    return out


def feed(trackers: Trackers) -> None:
    for step, row in ROWS:
        trackers.log(row, step)
    trackers.log(EVAL[1], EVAL[0], prefix="eval/")
    trackers.close()


@pytest.mark.parametrize("row,kept", [
    ({"a": 1, "b": None, "c": float("nan"), "d": float("inf"), "e": "text", "step": 3, "time": 9.0},
     {"a": 1.0}),
    ({"flag": True, "x": -0.5}, {"flag": 1.0, "x": -0.5}),
])
def test_scalars_keep_finite_numbers_only(row, kept):
    assert scalars(row) == kept


def test_scalars_never_drop_a_finite_row_value():
    """Every finite number of a row reaches the trackers (nothing but step/time is filtered by name)."""
    assert set(expected()) == {"reward/total", "reward/accuracy", "loss/kl", "completion/length_mean", "time/step",
                               "eval/accuracy", "eval/sampled/pass@4", "eval/n"}
    assert expected()["loss/kl"] == [(2, 0.01)]


def test_tensorboard_event_file(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    feed(Trackers(["tensorboard"], tmp_path, {"optim": {"lr": 1e-3}}))
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    got = {tag: [(e.step, pytest.approx(e.value)) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert got == expected()


def _wandb_records(path: Path) -> list:
    """The protobuf records of an offline W&B run file: a 7-byte file header (':W&B', magic, version), then
    LevelDB-log framing (32 KiB blocks; each chunk: crc32, length, type full/first/middle/last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    position, block, records, pending = 7, 32768, [], b""
    while position + 7 <= len(data):
        room = block - position % block
        if room < 7:  # a block's tail too short for a header is padding
            position += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position:position + 7])
        if kind == 0:
            break
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # full or last
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_wandb_offline_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_PROJECT", "zero-rl-test")
    feed(Trackers(["wandb"], tmp_path, {"optim": {"lr": 1e-3}}, run_name="tracked"))
    [run_file] = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    for _ in range(100):  # wandb's service process writes the file; finish() can return before the last record
        records = _wandb_records(run_file)
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        time.sleep(0.1)
    got, config, exit_code = {}, {}, None
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}
            step = items.pop("_step")
            for key, value in items.items():
                if not key.startswith("_"):
                    got.setdefault(key, []).append((step, pytest.approx(value)))
        elif kind == "config":
            config.update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "run":
            config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
            assert record.run.display_name == "tracked" and record.run.project == "zero-rl-test"
        elif kind == "exit":
            exit_code = record.exit.exit_code
    assert got == expected()
    assert config["optim"] == {"value": {"lr": 1e-3}} or config["optim"] == {"lr": 1e-3}, config
    assert exit_code == 0


TRACKIO_READER = """
import json, os, sys
from zero_rl.trackers import Trackers
sys.path.insert(0, os.environ["TEST_DIR"])
from test_trackers import feed
feed(Trackers(["trackio"], os.environ["RUN_DIR"], {"optim": {"lr": 1e-3}}, run_name="tracked"))
from trackio.sqlite_storage import SQLiteStorage
print("LOGS " + json.dumps(SQLiteStorage.get_logs("zero-rl-test", "tracked"), default=str), flush=True)
"""


def test_trackio_local_store(tmp_path):
    # trackio fixes its store folder when imported: a fresh interpreter points it at tmp_path
    env = dict(os.environ, TRACKIO_DIR=str(tmp_path / "store"), TRACKIO_PROJECT="zero-rl-test",
               RUN_DIR=str(tmp_path / "run"), TEST_DIR=str(Path(__file__).parent), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", TRACKIO_READER], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("LOGS ")]
    logs = json.loads(line.removeprefix("LOGS "))
    got = {}
    for row in logs:
        for key, value in row.items():
            if key not in ("step", "timestamp") and not key.startswith("_") and value is not None:
                got.setdefault(key, []).append((row["step"], pytest.approx(value)))
    assert got == expected()
    assert list((tmp_path / "store").glob("*.db")), "trackio wrote no database in TRACKIO_DIR"


def test_mlflow_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from mlflow.tracking import MlflowClient

    trackers = Trackers(["mlflow"], tmp_path, {"optim": {"lr": 1e-3}, "run": {"report_to": ["mlflow"]}},
                        run_name="tracked")
    run_id = trackers.active["mlflow"].run_id
    feed(trackers)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked"
    assert run.data.params["optim.lr"] == "0.001" and run.data.params["run.report_to"] == "['mlflow']"
    got = {key: [(m.step, pytest.approx(m.value)) for m in sorted(client.get_metric_history(run_id, mlflow_key(key)),
                                                                     key=lambda m: m.step)]
           for key in expected()}
    assert got == expected()
    assert set(run.data.metrics) == {mlflow_key(k) for k in expected()}


class FlakyTracker:
    """Accepts the first row, then raises (a dashboard that goes away mid-run)."""
    extra = "flaky"
    calls = []

    def __init__(self, run_dir, run_name, config):
        self.rows = 0

    def log(self, metrics, step):
        FlakyTracker.calls.append(step)
        self.rows += 1
        if self.rows > 1:
            raise ConnectionError("dashboard unreachable")

    def flush(self):
        pass

    def close(self, failed=False):
        FlakyTracker.calls.append("closed")


def test_a_failing_tracker_is_logged_switched_off_and_others_go_on(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setitem(TRACKERS, "flaky", FlakyTracker)
    FlakyTracker.calls = []
    warnings = []
    trackers = Trackers(["flaky", "tensorboard"], tmp_path, {}, warn=warnings.append)
    feed(trackers)
    assert FlakyTracker.calls == [1, 2]  # never called again after it failed, nor closed
    assert len(warnings) == 1 and "'flaky'" in warnings[0] and "ConnectionError" in warnings[0]
    assert "dashboard unreachable" in trackers.failed["flaky"]
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("reward/total")] == [1, 2, 3]


@pytest.mark.parametrize("name,module", [("wandb", "wandb"), ("trackio", "trackio"), ("mlflow", "mlflow"),
                                         ("tensorboard", "torch.utils.tensorboard")])
def test_missing_backend_names_its_extra(tmp_path, monkeypatch, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ImportError, match=rf"pip install 'zero-rl\[{name}\]'"):
        Trackers([name], tmp_path, {})


def test_unknown_tracker_is_a_config_error():
    with pytest.raises(ConfigError, match="tensorboard, wandb, trackio, mlflow"):
        build_config({}, ["run.report_to=[tensorbord]"])
    assert build_config({}, ["run.report_to=[tensorboard, mlflow]"]).run.report_to == ["tensorboard", "mlflow"]


def test_training_run_reaches_tensorboard_with_every_metric_and_survives_a_failing_tracker(tmp_path, monkeypatch,
                                                                                            capsys):
    """Two GRPO steps of a tiny model: every key of metrics.jsonl (and eval.jsonl) is in the event file at its
    step, the flaky tracker's failure is printed and training finishes; progress comes as plain lines."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from zero_rl.embedded import build_tiny_random
    from zero_rl.tasks import get_task
    from zero_rl.trainer import train

    monkeypatch.setitem(TRACKERS, "flaky", FlakyTracker)
    FlakyTracker.calls = []
    config = build_config({}, [
        "run.steps=2", "run.prompts_per_step=2", "generation.group_size=2", "generation.max_new_tokens=8",
        "task.eval_size=4", f"run.output_dir={tmp_path}", "run.progress=true", "optim.warmup_steps=0",
        "run.report_to=[tensorboard, flaky]"])
    model, tokenizer = build_tiny_random(seed=1)
    printed = []
    result = train(config, model=model, tokenizer=tokenizer, task=get_task("arithmetic", train_size=50, test_size=8),
                   log=printed.append)
    assert result["steps"] == 2
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for key, value in scalars(row).items():
            assert key in tags, key
            assert pytest.approx(value, rel=1e-5) in [e.value for e in events.Scalars(key) if e.step == row["step"]]
    evals = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [e.step for e in events.Scalars("eval/accuracy")] == [row["step"] for row in evals]
    assert FlakyTracker.calls == [0, 1]  # eval at step 0, then step 1 broke it: never called or closed again
    out = capsys.readouterr().out
    assert "tracker 'flaky' failed in log() (ConnectionError: dashboard unreachable)" in out
    # stdout is not a terminal here: plain progress lines, one per step, with rate and ETA
    steps = re.findall(r"^GRPO step (\d)/2 \(\d+%\), [\d.]+ (?:s/step|step/s), ETA [\dhms ]+, elapsed", out, re.M)
    assert steps == ["1", "2"], out[-2000:]
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [1, 2] and all(s["samples"][0]["completion"] is not None for s in samples)


class RecordingTracker:
    extra = "recording"
    closed = []

    def __init__(self, run_dir, run_name, config):
        pass

    def log(self, metrics, step):
        pass

    def flush(self):
        RecordingTracker.closed.append("flush")

    def close(self, failed=False):
        RecordingTracker.closed.append(("close", failed))


def test_train_command_closes_trackers_as_failed_when_training_raises(tmp_path, monkeypatch):
    """An error in the loop: the train command flushes and closes the open trackers, marked failed, and the
    error goes on to the caller."""
    import zero_rl.trainer
    from zero_rl.commands.train import run_training

    monkeypatch.setitem(TRACKERS, "recording", RecordingTracker)
    RecordingTracker.closed = []

    def failing_train(config, **kwargs):
        trackers = Trackers(config.run.report_to, tmp_path, config.to_dict())
        trackers.log({"reward/total": 1.0}, 1)
        raise RuntimeError("out of memory at step 2")

    monkeypatch.setattr(zero_rl.trainer, "train", failing_train)
    config = build_config({}, [f"run.output_dir={tmp_path}", "run.report_to=[recording]", "run.progress=false",
                               "task.options.train_size=20", "task.options.test_size=8", "task.eval_size=4"])
    with pytest.raises(RuntimeError, match="out of memory"):
        run_training(config, report=False)
    assert RecordingTracker.closed == ["flush", ("close", True)]


def test_wandb_run_closed_as_failed_says_so(tmp_path, monkeypatch):
    from zero_rl.trackers import close_all

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    trackers = Trackers(["wandb"], tmp_path, {})
    trackers.log({"reward/total": 0.5}, 1)
    assert close_all(failed=True) >= 1 and not trackers.active
    [run_file] = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    for _ in range(100):
        exits = [r.exit.exit_code for r in _wandb_records(run_file) if r.WhichOneof("record_type") == "exit"]
        if exits:
            break
        time.sleep(0.1)
    assert exits == [1]


def test_preflight_names_the_extra_of_a_missing_backend(tmp_path, monkeypatch):
    import importlib.util

    from zero_rl.preflight import check_trackers

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trackio" else real(name, *a))
    with pytest.raises(ConfigError, match=r"'trackio' needs the 'trackio' package: pip install 'zero-rl\[trackio\]'"):
        check_trackers(["tensorboard", "trackio"])
    check_trackers(["tensorboard", "wandb", "mlflow"])
