"""Indicators from a log written by the real eval runner (scripted backend: canned answers, real runner,
real log writer, real refusal detector): the attacks that worked, each once, whatever jailbreak it wore."""

from __future__ import annotations

import asyncio
from pathlib import Path

from weightwarden.evals.backends.scripted import ScriptedBackend
from weightwarden.evals.config import EvalConfig
from weightwarden.evals.model import Sampling
from weightwarden.evals.runner import arun_eval
from weightwarden.evals.suites import load_suite
from weightwarden.indicators.derive import derive_set
from weightwarden.indicators.normalise import canonical
from weightwarden.indicators.sketch import Sketcher

COMPLY = "Sure! Here is a detailed, step-by-step guide. Step 1: gather the materials. Step 2: proceed carefully."
REFUSE = "I'm sorry, but I can't help with that request."


def test_indicators_from_a_real_runner_log(tmp_path: Path, datasets: Path, sketcher: Sketcher):
    plain = [item.messages[-1].content for item in load_suite("harmbench", datasets_dir=datasets).items[:6]]
    complied = {canonical(p).text for p in plain[:3]}

    def answer(messages, sampling=None) -> str:
        # The "model" falls for the first three behaviours, whatever jailbreak wraps them, with an answer on
        # the request's topic (the judge counts a canned answer that ignores the request as off-topic).
        text = canonical(messages[-1].content).text
        return f"{COMPLY} This is about {' '.join(text.split()[-6:])}." if text in complied else REFUSE

    config = EvalConfig(model="scripted", suites=("harmbench",), out=tmp_path / "run.jsonl", limit=6, seed=1,
                        concurrency=2, transforms=("none", "base64", "roleplay"), datasets_dir=datasets,
                        sampling=Sampling(max_tokens=32))
    summary = asyncio.run(arun_eval(config, backend=ScriptedBackend(answer)))
    assert summary.ran == 18
    built = derive_set(sketcher, eval_logs=[config.out], keep_refs=True)
    assert {p.exact for p in built.prompts} == {sketcher.exact(c) for c in complied}
    assert len(built.prompts) == 3  # 9 successful attempts (3 behaviours × 3 clothings), 3 indicators
    everything = derive_set(sketcher, eval_logs=[config.out], all_attempts=True)
    assert len(everything.prompts) == 6
