"""Run under `accelerate launch` with 2 processes: sharded sampled eval vs the same eval on one process."""

import json
import sys
from pathlib import Path

from accelerate import Accelerator

from zero_rl.tasks import get_task
from zero_rl.evaluate import sample_eval, sample_eval_sharded
from zero_rl.generation import Completion, SamplingParams


class PromptHashGenerator:
    """Sample s of a prompt is correct when (sum of its ids + s) % 3 == 0: the same on any rank or batch."""

    name = "prompt-hash"

    def __init__(self, golds):
        self.golds = golds

    def generate(self, prompt_ids, params):
        out = []
        for p, ids in enumerate(prompt_ids):
            gold = int(self.golds[tuple(ids)])
            for s in range(params.n):
                answer = gold if (sum(ids) + s) % 3 == 0 else gold + 1 + s % 2
                out.append(Completion(p, [0] * (2 + s), f"<think> x </think> <answer> {answer} </answer>", None,
                                      "stop"))
        return out


def tokenizer(text, add_special_tokens=False):
    return {"input_ids": [ord(ch) for ch in text]}


def main(out_dir: str) -> None:
    accelerator = Accelerator()
    task = get_task("arithmetic", test_size=7)
    examples = task.load("test")
    generator = PromptHashGenerator({tuple(tokenizer(task.prompt(e))["input_ids"]): e["answer"] for e in examples})
    params = SamplingParams(temperature=1.0, max_new_tokens=8)
    result = {"world": accelerator.num_processes,
              "sharded": sample_eval_sharded(generator, tokenizer, task, examples, 6, [1, 2, 6], params, accelerator),
              "single": sample_eval(generator, tokenizer, task, examples, 6, [1, 2, 6], params)}
    Path(out_dir, f"rank{accelerator.process_index}.json").write_text(json.dumps(result))
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main(sys.argv[1])
