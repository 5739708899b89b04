"""An LLM as a teacher: any OpenAI-compatible endpoint (vLLM, llama.cpp, a hosted API) paraphrases
the training examples and soft-labels unlabelled utterances; every good answer is cached on disk.

    splits, stats = augment(splits, TeacherSettings("http://127.0.0.1:8080/v1", model="qwen"), unlabelled)

- Paraphrases: for each training example (or `per_intent` sampled ones per intent; out-of-scope
  examples are never sources) the model is asked for `paraphrases` rewrites that keep the meaning
  and the slot values. A rewrite is kept when, normalised (edge.core.text.normalize.normalize_utterance),
  it is not empty, not already in any split, and still holds every slot value as whole words;
  its slot spans are re-located there. It takes the source's intent.
- Soft labels (self-instruct style): the model picks one intent from the training labels (or
  out_of_scope) and gives a confidence; answers that are not JSON, name an unknown label or fall
  below `min_confidence` are dropped. Kept utterances join train without slot annotation.
- Cache: one JSON file per answer under `cache_dir`, keyed by sha256 of (model name, the exact
  messages, temperature). Only well-formed answers are stored (transport failures and non-JSON
  answers never are), and the filters run after the cache, so a rerun with other thresholds
  sends no request.

Timeouts, HTTP errors and garbage are counted in the stats (`summary()` prints one line); they
never stop the run. Needs httpx (the `llm` extra) and tqdm; both are imported lazily.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.data.public import Splits
from distill.data.records import OOS_LABEL, Example, SlotSpan, require_file
from edge.core.text.normalize import normalize_utterance

log = logging.getLogger(__name__)
Messages = tuple[dict[str, str], ...]
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge" / "llm-teacher"


class TeacherUnavailable(RuntimeError):
    """The teacher cannot run at all (a missing package); the message says what to install."""


class NotJson(ValueError):
    """An answer holds no JSON value of the expected shape."""


@dataclass(frozen=True)
class TeacherSettings:
    base_url: str  # OpenAI-compatible, ends with /v1: requests go to {base_url}/chat/completions
    model: str = ""  # sent as "model" and part of the cache key; empty: the server's default model
    api_key: str = field(default="", repr=False)  # sent as a Bearer token when set ($OPENAI_API_KEY)
    paraphrases: int = 3  # asked per source example; 0: no paraphrasing
    per_intent: int = 0  # source examples sampled per intent (seeded); 0: every training example
    temperature: float = 0.7
    min_confidence: float = 0.7  # soft labels below this are dropped
    max_tokens: int = 400  # per answer
    timeout_seconds: float = 60.0  # per request (connect, and between bytes of the answer)
    workers: int = 4  # requests in flight at once
    cache_dir: Path = field(default_factory=default_cache_dir)
    seed: int = 13
    progress: bool = True  # a tqdm bar over the requests


@dataclass
class TeacherStats:
    requests: int = 0  # HTTP requests sent (cache hits send none)
    cache_hits: int = 0
    failed: Counter = field(default_factory=Counter)  # request-level: timeout, http_error, not_json…
    dropped: Counter = field(default_factory=Counter)  # item-level: missing_slot, duplicate, unknown_label…
    kept_paraphrases: int = 0
    kept_soft_labels: int = 0
    soft_label_intents: Counter = field(default_factory=Counter)
    soft_label_confidences: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        confidences = self.soft_label_confidences
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "kept": self.kept_paraphrases + self.kept_soft_labels,
            "kept_paraphrases": self.kept_paraphrases,
            "kept_soft_labels": self.kept_soft_labels,
            "failed": dict(sorted(self.failed.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "soft_label_intents": dict(sorted(self.soft_label_intents.items())),
            "soft_label_mean_confidence": round(sum(confidences) / len(confidences), 4) if confidences else None,
        }


def summary(stats: dict[str, Any]) -> str:
    """One line: 'llm teacher: 12 requests, 30 cache hits; kept 80 paraphrases + 5 soft labels; …'."""

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{reason} {n}" for reason, n in values.items()) or "none"

    return (
        f"llm teacher: {stats['requests']} requests, {stats['cache_hits']} cache hits; "
        f"kept {stats['kept_paraphrases']} paraphrases + {stats['kept_soft_labels']} soft labels; "
        f"failed: {counts(stats['failed'])}; dropped: {counts(stats['dropped'])}"
    )


# --- prompts and answers -------------------------------------------------------------------


_SYSTEM = "You help build training data for a voice assistant. Answer with JSON only, no other text."


def paraphrase_messages(example: Example, count: int) -> Messages:
    values = list(dict.fromkeys(example.text[s.start : s.end] for s in example.slots or ()))
    # no JSON in the prompt: a model that echoes it must not look like an answer
    keep = (
        f" Keep these words exactly as written in every rewrite: {', '.join(map(json.dumps, values))}."
        if values
        else ""
    )
    user = (
        f"Rewrite this request to a voice assistant in {count} different ways that mean the same thing "
        f"(intent: {example.intent}).{keep} Answer with a JSON array of {count} strings.\n"
        f"Request: {example.text}"
    )
    return ({"role": "system", "content": _SYSTEM}, {"role": "user", "content": user})


def soft_label_messages(text: str, labels: Sequence[str]) -> Messages:
    user = (
        f"Choose the one intent that fits this request to a voice assistant, or {OOS_LABEL} if none fits.\n"
        f"Intents: {', '.join(labels)}\n"
        'Answer with a JSON object with the keys "intent" (one of the intents) and "confidence" (0 to 1).\n'
        f"Request: {text}"
    )
    return ({"role": "system", "content": _SYSTEM}, {"role": "user", "content": user})


def parse_json_answer(content: str) -> Any:
    """The JSON value in an answer: the whole text, a ```json fence, or the first [..] / {..} in prose."""
    for candidate in (content.strip(), *_FENCE.findall(content)):
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for at, char in enumerate(content):
        if char in "[{":
            try:
                return decoder.raw_decode(content, at)[0]
            except ValueError:
                continue
    raise NotJson(f"no JSON in {content[:80]!r}")


def paraphrase_list(content: str) -> list[Any]:
    """The rewrites in an answer: a JSON array, or an object holding one (e.g. {"paraphrases": [...]})."""
    value = parse_json_answer(content)
    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, list)), None)
    if not isinstance(value, list):
        raise NotJson(f"expected a JSON array of strings, got {content[:80]!r}")
    return value


def label_answer(content: str) -> tuple[str, float]:
    """(intent, confidence in [0, 1]) from {"intent": ..., "confidence": ...}; a percentage is scaled."""
    value = parse_json_answer(content)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        raise NotJson(f"expected a JSON object, got {content[:80]!r}")
    label = value.get("intent", value.get("label"))
    try:
        confidence = float(value.get("confidence", value.get("score")))
    except (TypeError, ValueError) as error:
        raise NotJson(f"no numeric confidence in {content[:80]!r}") from error
    confidence = confidence / 100 if 1 < confidence <= 100 else confidence
    if not isinstance(label, str) or not 0 <= confidence <= 1:
        raise NotJson(f"expected an intent name and a confidence in [0, 1], got {content[:80]!r}")
    return label.strip(), confidence


def _accepts(parse: Callable[[str], Any]) -> Callable[[str], bool]:
    def accepts(content: str) -> bool:
        try:
            parse(content)
        except NotJson:
            return False
        return True

    return accepts


# --- the cache and the client ----------------------------------------------------------------


def request_key(model: str, messages: Messages, temperature: float) -> str:
    material = json.dumps({"model": model, "messages": list(messages), "temperature": temperature}, sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class AnswerCache:
    """One JSON file per good answer: DIR/ab/abcdef….json; written atomically, unreadable files are misses."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        try:
            content = json.loads(self._path(key).read_text(encoding="utf-8"))["content"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return content if isinstance(content, str) else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(record, file, ensure_ascii=False)
        os.replace(temporary, path)


@dataclass(frozen=True)
class Job:
    messages: Messages
    accepts: Callable[[str], bool]  # is this answer good enough to cache?


@dataclass(frozen=True)
class Outcome:
    content: str | None = None  # None: the request failed (see `failure`)
    cached: bool = False
    failure: str | None = None  # timeout | connection_error | http_error | bad_response | not_json


class ChatTeacher:
    """Non-streaming chat completions with a disk cache in front; thread-safe. Use as a context manager."""

    def __init__(self, settings: TeacherSettings) -> None:
        try:
            import httpx
        except ImportError as error:
            raise TeacherUnavailable("the LLM teacher needs httpx: pip install 'edge-voice[llm]'") from error
        self._httpx = httpx
        self.settings = settings
        self.cache = AnswerCache(settings.cache_dir)
        headers = {"authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._http = httpx.Client(timeout=httpx.Timeout(settings.timeout_seconds), headers=headers)
        self.url = settings.base_url.rstrip("/") + "/chat/completions"

    def __enter__(self) -> ChatTeacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def ask_all(self, jobs: Sequence[Job], stats: TeacherStats) -> list[Outcome]:
        """Every job's outcome, in order; counts requests, cache hits and failures into `stats`."""
        from tqdm import tqdm

        outcomes: list[Outcome | None] = [None] * len(jobs)
        with (
            ThreadPoolExecutor(max(1, self.settings.workers)) as pool,
            tqdm(
                total=len(jobs), desc="llm teacher", unit="req", disable=not self.settings.progress or not jobs
            ) as bar,
        ):
            futures = {pool.submit(self.ask, job): index for index, job in enumerate(jobs)}
            for future in as_completed(futures):
                outcomes[futures[future]] = outcome = future.result()
                stats.cache_hits += outcome.cached
                stats.requests += not outcome.cached
                if outcome.failure:
                    stats.failed[outcome.failure] += 1
                bar.update()
        return [outcome for outcome in outcomes if outcome is not None]

    def ask(self, job: Job) -> Outcome:
        key = request_key(self.settings.model, job.messages, self.settings.temperature)
        cached = self.cache.get(key)
        if cached is not None:
            return Outcome(cached, cached=True)
        outcome = self._post(job)
        if outcome.content is not None and not job.accepts(outcome.content):
            log.debug("llm teacher: not the JSON asked for: %r", outcome.content[:200])
            return Outcome(failure="not_json")
        if outcome.content is not None:
            record = {"model": self.settings.model, "temperature": self.settings.temperature}
            try:
                self.cache.put(key, {**record, "messages": list(job.messages), "content": outcome.content})
            except OSError as error:  # a full or read-only disk costs a rerun, not this run
                log.warning("llm teacher: cannot cache an answer in %s: %s", self.cache.directory, error)
        return outcome

    def _post(self, job: Job) -> Outcome:
        httpx, settings = self._httpx, self.settings
        body: dict[str, Any] = {"messages": list(job.messages), "temperature": settings.temperature, "stream": False}
        body["max_tokens"] = settings.max_tokens
        if settings.model:
            body["model"] = settings.model
        try:
            response = self._http.post(self.url, json=body)
        except httpx.TimeoutException:
            return Outcome(failure="timeout")
        except httpx.HTTPError as error:
            log.debug("llm teacher: %s: %s", self.url, error)
            return Outcome(failure="connection_error")
        if response.status_code != 200:
            log.debug("llm teacher: %s answered HTTP %d: %s", self.url, response.status_code, response.text[:200])
            return Outcome(failure="http_error")
        content = completion_text(response.content)
        return Outcome(content) if content is not None else Outcome(failure="bad_response")


def completion_text(body: bytes) -> str | None:
    """choices[0].message.content of a chat.completion body, or None when it is not one."""
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


# --- turning answers into examples -------------------------------------------------------------


def locate_slots(source: Example, text: str) -> tuple[SlotSpan, ...] | None:
    """`source`'s slot values as whole words of `text` (left to right, no overlap), or None if one is missing."""
    padded, taken, spans = f" {text} ", [], []
    for span in sorted(source.slots or (), key=lambda s: s.start):
        value = source.text[span.start : span.end]
        start = padded.find(f" {value} ")
        while start != -1 and any(start < end and begin < start + len(value) for begin, end in taken):
            start = padded.find(f" {value} ", start + 1)
        if start == -1:
            return None
        taken.append((start, start + len(value)))
        spans.append(SlotSpan(span.name, start, start + len(value)))
    return tuple(sorted(spans, key=lambda s: s.start))


def paraphrases_from(source: Example, content: str, count: int, seen: set[str], dropped: Counter) -> list[Example]:
    """The usable rewrites in one answer (at most `count`); `seen` grows with every kept text."""
    kept: list[Example] = []
    for item in paraphrase_list(content):
        text = normalize_utterance(item) if isinstance(item, str) else ""
        slots = None if source.slots is None else locate_slots(source, text)
        reason = _drop_reason(text, seen, source.slots is not None and slots is None, len(kept) >= count)
        if reason:
            dropped[reason] += 1
            continue
        seen.add(text)
        kept.append(Example(text, source.intent, slots))
    return kept


def _drop_reason(text: str, seen: set[str], slot_missing: bool, enough: bool) -> str | None:
    if not text:
        return "empty"
    if text in seen:
        return "duplicate"
    if slot_missing:
        return "missing_slot"
    return "surplus" if enough else None


def soft_label_from(text: str, content: str, labels: set[str], min_confidence: float) -> tuple[str | None, str, float]:
    """(kept intent or None, drop reason or "", confidence) for one answer; "Out of scope" matches out_of_scope."""
    answer, confidence = label_answer(content)
    label = (
        answer if answer in labels else {name.lower(): name for name in labels}.get(answer.lower().replace(" ", "_"))
    )
    if label is None:
        return None, "unknown_label", confidence
    if confidence < min_confidence:
        return None, "low_confidence", confidence
    return label, "", confidence


def paraphrase_sources(train: Sequence[Example], per_intent: int, seed: int) -> list[Example]:
    """Training examples to paraphrase: all (out-of-scope excepted), or `per_intent` sampled per intent."""
    sources = [example for example in train if example.intent != OOS_LABEL]
    if per_intent <= 0:
        return sources
    by_intent: dict[str, list[int]] = {}
    for index, example in enumerate(sources):
        by_intent.setdefault(example.intent, []).append(index)
    rng = random.Random(seed)
    chosen = {i for _, indexes in sorted(by_intent.items()) for i in rng.sample(indexes, min(per_intent, len(indexes)))}
    return [example for index, example in enumerate(sources) if index in chosen]


def read_unlabelled(path: Path) -> list[str]:
    """One utterance per line (blank lines skipped), as written."""
    return [line.strip() for line in require_file(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _new_utterances(utterances: Iterable[str], seen: set[str], dropped: Counter) -> list[str]:
    texts: list[str] = []
    for utterance in utterances:
        text = normalize_utterance(utterance)
        reason = "empty" if not text else "duplicate" if text in seen or text in texts else None
        if reason:
            dropped[reason] += 1
        else:
            texts.append(text)
    return texts


def augment(splits: Splits, settings: TeacherSettings, unlabelled: Iterable[str] = ()) -> tuple[Splits, dict[str, Any]]:
    """New splits (train + kept paraphrases + kept soft labels; valid and test untouched) and the stats."""
    stats = TeacherStats()
    seen = {example.text for items in splits.values() for example in items}
    sources = (
        paraphrase_sources(splits["train"], settings.per_intent, settings.seed) if settings.paraphrases > 0 else []
    )
    labels = sorted({example.intent for example in splits["train"]} - {OOS_LABEL}) + [OOS_LABEL]
    texts = _new_utterances(unlabelled, seen, stats.dropped)
    seen.update(texts)  # a paraphrase never duplicates an utterance that gets its own label
    jobs = [Job(paraphrase_messages(e, settings.paraphrases), _accepts(paraphrase_list)) for e in sources]
    jobs += [Job(soft_label_messages(t, labels), _accepts(label_answer)) for t in texts]
    with ChatTeacher(settings) as teacher:
        outcomes = teacher.ask_all(jobs, stats)
    added: list[Example] = []
    for source, outcome in zip(sources, outcomes[: len(sources)], strict=True):
        if outcome.content is not None:
            added += paraphrases_from(source, outcome.content, settings.paraphrases, seen, stats.dropped)
    stats.kept_paraphrases = len(added)
    added += _soft_labelled(texts, outcomes[len(sources) :], set(labels), settings.min_confidence, stats)
    stats.kept_soft_labels = len(added) - stats.kept_paraphrases
    if jobs and sum(stats.failed.values()) == len(jobs):
        log.warning(
            "llm teacher: every request to %s failed (%s); training on the data as given",
            teacher.url,
            dict(stats.failed),
        )
    return {**splits, "train": splits["train"] + added}, stats.to_json()


def _soft_labelled(
    texts: Sequence[str], outcomes: Sequence[Outcome], labels: set[str], min_confidence: float, stats: TeacherStats
) -> list[Example]:
    kept: list[Example] = []
    for text, outcome in zip(texts, outcomes, strict=True):
        if outcome.content is None:
            continue
        intent, reason, confidence = soft_label_from(text, outcome.content, labels, min_confidence)
        if intent is None:
            stats.dropped[reason] += 1
            continue
        kept.append(Example(text, intent))
        stats.soft_label_intents[intent] += 1
        stats.soft_label_confidences.append(confidence)
    return kept
