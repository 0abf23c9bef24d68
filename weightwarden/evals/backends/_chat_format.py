"""weightwarden's own chat formats: turn chat messages into a prompt string without rendering a template.

A model's chat template is Jinja code shipped inside the model (GGUF metadata, ``tokenizer_config.json``);
rendering it runs untrusted code in our process, which weightwarden never does (DESIGN.md §7). The local
backends therefore render prompts with the small, fixed Python formatters below, and pick one by looking for
the format's marker tokens in the template *text* (a substring test; the template is never evaluated). The
template must first have passed the scanner (:mod:`weightwarden.evals.backends._vetting`). Usage::

    fmt = detect_chat_format(template_source) or get_chat_format("chatml")
    prompt = fmt.render(messages)          # ends with the assistant header: the model writes next
    stops = fmt.stop                       # end-of-turn markers, added to the caller's stop strings

What is rendered is exactly the conversation given: default system prompts that some templates add on
their own (SmolLM2's "You are a helpful AI assistant named SmolLM...") are not added, so the in-process,
managed-server and transformers backends send the same prompt for the same item. No BOS token is written:
llama.cpp and the transformers tokenizer add one when the model's tokenizer asks for it.

Formats follow the published prompt formats: ChatML (OpenAI, used by SmolLM2, Qwen, ...), Llama 3 (Meta's
model card), Gemma (Google's model card: no system role, ``model`` for the assistant) and Mistral-Instruct
(``[INST] ... [/INST]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from weightwarden.evals.model import Message


@dataclass(frozen=True)
class ChatFormat:
    name: str
    stop: tuple[str, ...]
    llama_cpp_name: str  # the same format's name in llama-cpp-python (its own Python formatter, no Jinja)
    _render: Callable[[Sequence[Message]], str]

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt for ``messages``, ending where the assistant's answer begins."""
        return self._render(messages)


def _chatml(messages: Sequence[Message]) -> str:
    turns = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
    return "".join(turns) + "<|im_start|>assistant\n"


def _llama3(messages: Sequence[Message]) -> str:
    role = {"tool": "ipython"}  # Llama 3.1 names the tool-result role "ipython"
    turns = [
        f"<|start_header_id|>{role.get(m.role, m.role)}<|end_header_id|>\n\n{m.content}<|eot_id|>" for m in messages
    ]
    return "".join(turns) + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def _merged_turns(messages: Sequence[Message]) -> list[tuple[str, str]]:
    """(``user``|``assistant``, text) turns for formats without system and tool roles: the system prompt
    opens the first user turn, tool results are user-side text, consecutive user-side messages are joined."""
    turns: list[tuple[str, str]] = []
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    for message in messages:
        if message.role == "system":
            continue
        side = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1][0] == side:
            turns[-1] = (side, turns[-1][1] + "\n\n" + message.content)
        else:
            turns.append((side, message.content))
    if system:
        if turns and turns[0][0] == "user":
            turns[0] = ("user", system + "\n\n" + turns[0][1])
        else:
            turns.insert(0, ("user", system))
    return turns


def _gemma(messages: Sequence[Message]) -> str:
    role = {"user": "user", "assistant": "model"}
    turns = [f"<start_of_turn>{role[side]}\n{text}<end_of_turn>\n" for side, text in _merged_turns(messages)]
    return "".join(turns) + "<start_of_turn>model\n"


def _mistral(messages: Sequence[Message]) -> str:
    parts = []
    for side, text in _merged_turns(messages):
        parts.append(f"[INST] {text} [/INST]" if side == "user" else f"{text}</s>")
    return "".join(parts)


FORMATS: dict[str, ChatFormat] = {
    f.name: f
    for f in (
        ChatFormat("chatml", ("<|im_end|>",), "chatml", _chatml),
        ChatFormat("llama-3", ("<|eot_id|>", "<|end_of_text|>"), "llama-3", _llama3),
        ChatFormat("gemma", ("<end_of_turn>",), "gemma", _gemma),
        ChatFormat("mistral-instruct", ("</s>",), "mistral-instruct", _mistral),
    )
}

# Marker tokens that only the format of that name uses, checked in this order.
_MARKERS: tuple[tuple[str, str], ...] = (
    ("<|im_start|>", "chatml"),
    ("<|start_header_id|>", "llama-3"),
    ("<start_of_turn>", "gemma"),
    ("[INST]", "mistral-instruct"),
)


def get_chat_format(name: str) -> ChatFormat:
    """The format called ``name``; ValueError naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown chat format {name!r}; known: {', '.join(sorted(FORMATS))}") from None


def detect_chat_format(template: str | None) -> ChatFormat | None:
    """The format whose marker tokens the template text contains, or None. Never renders the template."""
    if not template:
        return None
    for marker, name in _MARKERS:
        if marker in template:
            return FORMATS[name]
    return None
