"""bf16 only where the hardware has it natively: the choice per device and request, and the AVX2 emulation."""

import os
import subprocess
import sys

import pytest

from zero_rl import precision
from zero_rl.precision import resolve_precision


@pytest.mark.parametrize("native,requested,cpu_auto,expected", [
    (True, "auto", "bfloat16", "bfloat16"),   # the base build on an AMX / AVX512-BF16 CPU
    (True, "auto", "float32", "float32"),     # training on such a CPU: float32 unless asked
    (True, "bfloat16", "float32", "bfloat16"),
    (False, "auto", "bfloat16", "float32"),   # AVX2 only: never emulated bf16
    (False, "bfloat16", "float32", "float32"),
    (False, "float32", "float32", "float32"),
    (True, "float32", "bfloat16", "float32"),
])
def test_resolve_precision_on_cpu(monkeypatch, native, requested, cpu_auto, expected):
    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": native)
    chosen, reason = resolve_precision(requested, "cpu", cpu_auto=cpu_auto)
    assert chosen == expected
    assert "CPU" in reason
    if requested == "bfloat16" and not native:
        assert "no native bf16" in reason


def test_resolve_precision_rejects_unknown_values():
    with pytest.raises(ValueError, match="choose one of: auto, float32, bfloat16"):
        resolve_precision("fp16", "cpu")


def test_avx2_emulation_reports_no_native_bf16_and_picks_float32():
    """ONEDNN_MAX_CPU_ISA=AVX2 (with ATEN_CPU_CAPABILITY=avx2) makes any x86 CPU behave as an AVX2-only one for
    bf16: the base build and training then choose float32."""
    code = ("from zero_rl.precision import native_bf16, resolve_precision, cpu_description; "
            "print(native_bf16('cpu'), resolve_precision('auto', 'cpu', cpu_auto='bfloat16')[0], cpu_description())")
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[:2] == ["False", "float32"] and "AVX2" in out
