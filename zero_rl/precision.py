"""Which floating-point precision to compute in, chosen by what the hardware does fast.

bfloat16 autocast is fast only where the hardware has native bf16 arithmetic: CUDA GPUs from Ampere on, and
CPUs with AMX or AVX512-BF16. On an AVX2-only CPU torch emulates it, and one pretraining step of the embedded
base model took 12x longer than in float32 (`../shared/notes/this-machine.md`, section 0). So "auto" picks bf16
only where it is native, and every caller logs the choice.
"""

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """True where bf16 matrix arithmetic runs natively on `device` (GPU: compute capability >= 8.0;
    CPU: oneDNN reports bf16 support, i.e. AVX512-BF16 or AMX; it honours ONEDNN_MAX_CPU_ISA)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def cpu_description() -> str:
    """A short name of the CPU's instruction set for logs: 'AVX2, bf16 emulated' or 'AVX512, native bf16'."""
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability}, {'native' if native_bf16('cpu') else 'no native'} bf16"


def resolve_precision(requested: str, device: str | torch.device = "cpu", cpu_auto: str = "float32") -> tuple:
    """(precision, reason): 'float32' or 'bfloat16' for `requested` in PRECISIONS on `device`.

    auto -> bfloat16 where native, else float32; on CPU "auto" resolves to `cpu_auto` when bf16 is native (the
    caller decides whether bf16 pays off there). An explicit bfloat16 without native support falls back to
    float32 with the reason said: emulated bf16 is an order of magnitude slower, never what a user wants.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is not valid; choose one of: {', '.join(PRECISIONS)}")
    device = torch.device(device)
    where = "GPU" if device.type == "cuda" else f"CPU ({cpu_description()})"
    if requested == "float32":
        return "float32", f"float32 as configured on {where}"
    native = native_bf16(device)
    if not native:
        if requested == "bfloat16":
            return "float32", (f"bfloat16 requested but {where} has no native bf16 (emulated bf16 is ~10x slower): "
                               "using float32")
        return "float32", f"auto: float32 on {where}"
    if requested == "bfloat16":
        return "bfloat16", f"bfloat16 as configured on {where}"
    chosen = "bfloat16" if device.type == "cuda" else cpu_auto
    return chosen, f"auto: {chosen} on {where}"


def training_mixed_precision(requested: str, log=print) -> str:
    """accelerate's `mixed_precision` ("bf16" or "no") for the policy's `model.dtype`, with the choice logged.
    On CPU "auto" is float32: the RL update of small models gains little from autocast, and the transformers
    generator samples in float32, so bf16 training would only add generator/trainer mismatch."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision, reason = resolve_precision(requested, device)
    log(f"precision: {reason}")
    return "bf16" if precision == "bfloat16" else "no"
