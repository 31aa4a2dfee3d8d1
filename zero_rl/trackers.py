"""Experiment trackers: the rows of metrics.jsonl (and eval.jsonl, under `eval/`) sent to TensorBoard, Weights &
Biases, trackio or MLflow as well, from the main process only (`run.report_to: [tensorboard, wandb, ...]`).

Each backend is an optional extra (`pip install 'zero-rl[tensorboard]'`), imported when a run asks for it. A
tracker that fails while the run goes on is logged once, switched off, and training continues: a dashboard
outage must not cost a run. Every tracker is flushed and closed at the end of the run, on an error (the train
command closes them, marking the run failed where the backend knows the idea) and at interpreter exit.

Where each writes (all offline by default):
- tensorboard: event files in RUN_DIR/tensorboard (`tensorboard --logdir runs/` shows every run).
- wandb: wandb's own settings (WANDB_MODE=offline keeps it on disk; RUN_DIR/wandb holds the run files);
  project from WANDB_PROJECT, else "zero-rl".
- trackio: trackio's local store (TRACKIO_DIR, default ~/.cache/huggingface/trackio; `trackio show`); project
  from TRACKIO_PROJECT, else "zero-rl".
- mlflow: MLFLOW_TRACKING_URI if set, else an SQLite store RUN_DIR/mlflow.db (MLflow 3 retired the file store):
  `mlflow ui --backend-store-uri sqlite:///RUN_DIR/mlflow.db`; experiment from MLFLOW_EXPERIMENT_NAME, else
  "zero-rl".
"""

import atexit
import logging
import math
import os
import re
import weakref
from pathlib import Path

log = logging.getLogger("zero_rl.trackers")


def _number(value):
    """A finite float for a tracker, or None (a null in metrics.jsonl, a NaN, a string): trackers get numbers."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def scalars(metrics: dict) -> dict:
    """The numeric, finite entries of a metrics row, without the row's own bookkeeping (step, time)."""
    out = {}
    for key, value in metrics.items():
        if key in ("step", "time"):
            continue
        number = _number(value)
        if number is not None:
            out[key] = number
    return out


def flat_config(config: dict, prefix: str = "") -> dict:
    """{"optim": {"lr": 1e-3}} -> {"optim.lr": 1e-3}; lists and None as strings (trackers take scalars)."""
    out = {}
    for key, value in (config or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_config(value, name + "."))
        else:
            out[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out


class TensorBoardTracker:
    extra = "tensorboard"

    def __init__(self, run_dir: Path, run_name: str, config: dict):
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.directory = Path(run_dir) / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(self.directory), flush_secs=30)
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in flat_config(config).items()))

    def log(self, metrics: dict, step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, failed: bool = False) -> None:
        self.writer.close()


class WandbTracker:
    extra = "wandb"

    def __init__(self, run_dir: Path, run_name: str, config: dict):
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "zero-rl"), name=run_name, dir=str(run_dir),
                              config=config, reinit="finish_previous")

    def log(self, metrics: dict, step: int) -> None:
        self.run.log(metrics, step=step)

    def flush(self) -> None:
        pass  # wandb streams each row to its own process

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)


class TrackioTracker:
    extra = "trackio"

    def __init__(self, run_dir: Path, run_name: str, config: dict):
        import trackio

        self.trackio = trackio
        self.run = trackio.init(project=os.environ.get("TRACKIO_PROJECT", "zero-rl"), name=run_name, config=config,
                                embed=False)

    def log(self, metrics: dict, step: int) -> None:
        self.run.log(metrics, step=step)

    def flush(self) -> None:
        pass  # trackio writes from a background thread; finish() drains it

    def close(self, failed: bool = False) -> None:
        self.run.finish()


_MLFLOW_BAD = re.compile(r"[^0-9A-Za-z_\-. /:]")


def mlflow_key(name: str) -> str:
    """MLflow allows letters, digits, _ - . space / and : in a metric name; 'sampled/pass@4' -> 'sampled/pass_at_4'."""
    return _MLFLOW_BAD.sub("_", name.replace("@", "_at_"))


class MlflowTracker:
    extra = "mlflow"

    def __init__(self, run_dir: Path, run_name: str, config: dict):
        import mlflow

        self.mlflow = mlflow
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(run_dir) / 'mlflow.db').resolve()}"
        self.tracking_uri = uri
        self.client = mlflow.tracking.MlflowClient(tracking_uri=uri)
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "zero-rl")
        experiment = self.client.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(experiment_name)
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        params = [mlflow.entities.Param(k, str(v)[:6000]) for k, v in flat_config(config).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    def log(self, metrics: dict, step: int) -> None:
        import time

        now = int(time.time() * 1000)
        rows = [self.mlflow.entities.Metric(mlflow_key(k), v, now, step) for k, v in metrics.items()]
        for start in range(0, len(rows), 1000):
            self.client.log_batch(self.run_id, metrics=rows[start:start + 1000])

    def flush(self) -> None:
        pass  # each log_batch is written when it returns

    def close(self, failed: bool = False) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


TRACKERS = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker, "trackio": TrackioTracker,
            "mlflow": MlflowTracker}
"""run.report_to name -> tracker class (its `extra` is the pip extra that installs the backend)."""

_OPEN = weakref.WeakSet()  # every Trackers not yet closed, so an error path or exit can close them


def check_names(names) -> None:
    """Raise ValueError for a name not in TRACKERS (config validation calls this)."""
    unknown = [name for name in names if name not in TRACKERS]
    if unknown:
        raise ValueError(f"run.report_to: unknown tracker(s) {', '.join(map(repr, unknown))}; choose from: "
                         f"{', '.join(TRACKERS)} (an empty list: metrics.jsonl only)")


BACKEND_MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio", "mlflow": "mlflow"}
"""The package each tracker needs (checked before a run starts)."""


def missing_backends(names) -> list:
    """'NAME needs ...' for each tracker whose package is not installed (found without importing it)."""
    import importlib.util

    out = []
    for name in dict.fromkeys(names):
        module = BACKEND_MODULES.get(name)
        try:
            found = module is None or importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(f"{name!r} needs the {module!r} package: pip install 'zero-rl[{TRACKERS[name].extra}]' "
                       f"(or remove {name!r} from run.report_to)")
    return out


def start_tracker(name: str, run_dir: Path, run_name: str, config: dict):
    """Build one tracker; a missing backend raises ImportError naming the extra to install."""
    cls = TRACKERS[name]
    try:
        return cls(run_dir, run_name, config)
    except ImportError as error:
        raise ImportError(f"run.report_to includes {name!r} but its package is not installed ({error}); install it "
                          f"with `pip install 'zero-rl[{cls.extra}]'` (or `pip install {cls.extra}`), or remove "
                          f"{name!r} from run.report_to") from error


class Trackers:
    """The run's trackers behind one object: log(row, step) / close(failed). A tracker that raises is logged
    with the error, switched off, and the others (and training) go on."""

    def __init__(self, names, run_dir: Path, config: dict | None = None, run_name: str | None = None, warn=None):
        check_names(names)
        self.warn = warn or log.warning
        self.failed = {}  # name -> the error that switched it off
        self.active = {}
        run_name = run_name or Path(run_dir).resolve().name
        _OPEN.add(self)
        try:
            for name in dict.fromkeys(names):  # each once, in the order given
                self.active[name] = start_tracker(name, Path(run_dir), run_name, config or {})
        except BaseException:  # before step 1 a tracker that cannot start is a setup error: stop, say which
            self.close(failed=True)
            raise

    def _call(self, name: str, method: str, *args) -> None:
        try:
            getattr(self.active[name], method)(*args)
        except Exception as error:  # noqa: BLE001 - a tracker must not end the run
            self.failed[name] = f"{type(error).__name__}: {error}"
            del self.active[name]
            self.warn(f"tracker {name!r} failed in {method}() ({self.failed[name]}); it is switched off for the "
                      f"rest of the run, training goes on (metrics.jsonl has every row)")

    def log(self, metrics: dict, step: int, prefix: str = "") -> None:
        row = {f"{prefix}{k}": v for k, v in scalars(metrics).items()}
        if not row:
            return
        for name in list(self.active):
            self._call(name, "log", row, step)

    def flush(self) -> None:
        for name in list(self.active):
            self._call(name, "flush")

    def close(self, failed: bool = False) -> None:
        for name in list(self.active):
            self._call(name, "flush")
            if name in self.active:
                self._call(name, "close", failed)
        self.active = {}
        _OPEN.discard(self)


def close_all(failed: bool = False) -> int:
    """Close every open tracker (the train command calls this when training raises); returns how many."""
    open_now = list(_OPEN)
    for trackers in open_now:
        trackers.close(failed=failed)
    return len(open_now)


atexit.register(close_all, True)  # still open at exit: the run did not reach its end
