"""Launch a test script in 2 CPU processes with gloo DDP, the way users do with accelerate."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def launch_two_cpu_processes(script: str, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run tests/<script> under `accelerate launch` with 2 processes. `--cpu --num_processes 2` silently starts
    ONE process; ACCELERATE_USE_CPU=true with --multi_gpu is the form that gives 2 processes with gloo DDP."""
    env = dict(os.environ, ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               str(TESTS / script), *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
