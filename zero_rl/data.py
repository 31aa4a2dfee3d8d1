"""Load dataset rows from a local file (JSONL, JSON, parquet) or a hub dataset name, with errors that name
the file, the row and the field."""

import json
import os
from pathlib import Path


class DataError(ValueError):
    """A dataset could not be read or a row is missing what the task needs."""


def shared_data_dir() -> Path:
    """The datasets kept beside the project checkout (../shared/data), or $ZERO_RL_DATA."""
    env = os.environ.get("ZERO_RL_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _default_folder_hint(path: Path) -> str:
    """Where the default data folder is and how to move it, when `path` is inside it."""
    try:
        inside = path.resolve().is_relative_to(shared_data_dir().resolve())
    except OSError:
        inside = False
    if not inside:
        return ""
    return (" (this is the default data folder: ../shared/data beside the checkout, or $ZERO_RL_DATA; put the "
            "dataset there, set ZERO_RL_DATA, or pass the task's data option: `zero-rl tasks -v` lists it)")


def _read_jsonl(path: Path) -> list:
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}: line {number} is not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}: line {number} is a {type(row).__name__}, expected a JSON object")
            rows.append(row)
    return rows


def load_rows(source: str, split: str | None = None, config_name: str | None = None) -> list:
    """Rows as plain dicts.

    `source` is a local .jsonl/.json/.parquet file, a local folder holding `{split}.jsonl`, or a hub dataset
    name (loaded with `datasets.load_dataset(source, config_name, split=split)`).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        candidates = [path / f"{split}.{ext}" for ext in ("jsonl", "json", "parquet")] if split else []
        found = [c for c in candidates if c.exists()]
        if not found:
            raise DataError(f"{path}: no {split}.jsonl, {split}.json or {split}.parquet in this folder")
        path = found[0]
    if path.exists():
        if path.suffix == ".jsonl":
            return _read_jsonl(path)
        if path.suffix == ".json":
            with open(path, encoding="utf-8") as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError:
                    f.seek(0)
                    return _read_jsonl(path)
            if isinstance(data, dict) and split in data:
                data = data[split]
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a JSON list of objects")
            return data
        if path.suffix == ".parquet":
            import datasets

            return [dict(r) for r in datasets.load_dataset("parquet", data_files=str(path), split="train")]
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .jsonl, .json or .parquet")
    if source.startswith((".", "/", "~")) or source.endswith((".jsonl", ".json", ".parquet")):
        raise DataError(f"{source}: no such file or folder{_default_folder_hint(path)}")
    import datasets

    try:
        dataset = datasets.load_dataset(source, config_name, split=split)
    except Exception as error:
        raise DataError(f"could not load hub dataset {source!r} (config {config_name!r}, split {split!r}): "
                        f"{type(error).__name__}: {error}") from error
    return [dict(r) for r in dataset]


def require(row: dict, field: str, where: str, index: int):
    """row[field], or a DataError naming where (task and file), the row index and the field."""
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{where}: row {index} has no {field!r} field (keys: {', '.join(sorted(row))})")
    return value
