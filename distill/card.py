"""MODEL_CARD.md for an intent bundle, written from the same numbers as bundle.json."""

from __future__ import annotations

from typing import Any

from distill.metrics import describe_threshold_rule
from edge.nlu.oos import LOGIT_MARGIN, PROBABILITY


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def model_card(manifest: dict[str, Any], n_intents: int, n_slot_tags: int) -> str:
    m = manifest["metrics"]
    fp32, data, training, env, valid = m["fp32"], m["data"], m["training"], m["environment"], m["validation"]
    head_lr = training["head_learning_rate"] or training["learning_rate"]
    tradeoff = "\n".join(
        f"| {r['threshold']} | {_pct(r['hwu64_test_accuracy'])} | {_pct(r['in_scope_false_reject_rate'])} | {_pct(r['oos_recall'])} |"
        for r in m["threshold_tradeoff"]
    )
    evaluate = f"python -m distill.baseline --evaluate-only {m['bundle_path']}"
    epochs = "\n".join(
        f"| {r['epoch']} | {r['train_loss']:.4f} | {_pct(r['valid_intent_accuracy'])} | {_pct(r['valid_slot_f1'])} | {r['seconds']:.0f} |"
        for r in training["history"]
    )
    return f"""# HWU64 intent + slot model (all-MiniLM-L6-v2, INT8 ONNX)

A joint intent classifier and BIO slot tagger for a home voice assistant: {n_intents - 1} HWU64
intents plus `{manifest["oos_label"]}`, {n_slot_tags} slot tags. Fine-tuned from
`{manifest["base_model"]}`, exported to ONNX with Optimum, quantized to INT8 with onnxruntime.

## Use

- Inputs: `input_ids`, `attention_mask` (int64, [batch, tokens]) from `tokenizer.json`
  (truncation to {manifest["max_length"]} tokens). Pass the text through
  `edge.core.text.normalize.normalize_utterance` first: the model was trained on normalised text.
- Padded batches are supported and give the same top intent and slot tags as one unpadded
  query, but not bit-identical logits: dynamic INT8 quantizes each activation with a scale
  computed over the whole tensor, padding included. The device runs one query at a time, unpadded.
- Outputs: `intent_logits` [batch, {n_intents}] (order of `labels.json` `intents`) and
  `slot_logits` [batch, tokens, {n_slot_tags}] (order of `labels.json` `slot_tags`).
- Intent: softmax(intent_logits / {manifest["temperature"]:.4f}). The turn is out of scope when the top
  intent is `{manifest["oos_label"]}` or its probability is below {manifest["oos_threshold"]:.4f}.
- Slots: argmax tag per token; skip special tokens (offsets (0, 0)); a span starts at `B-x` (or an
  `I-x` that does not continue an `x` span) and extends over following `I-x` tokens; every subtoken
  is tagged, so the token offsets of a run give the character span in the normalised text.

## Training

- Data: HWU64 DialoGLUE split (train {data["train"]} / valid {data["valid"]} / test {data["test"]} utterances,
  CC BY 4.0) with slot annotations joined by text from `hwu64_annotated_10fold.tsv`
  ({data["train_annotated"]} of the training utterances annotated); CLINC150 out-of-scope
  utterances (CC BY 3.0) as `{manifest["oos_label"]}`: {data["oos_train"]} for training
  ({data["oos_train_source"]}), {data["oos_valid"]} for validation, {data["oos_test"]} for test.
  No CLINC150 in-scope utterances are used.
- Model: BERT encoder (6 layers, 384 wide) + linear intent head on the mean-pooled token vectors
  + linear slot head per token; loss = cross-entropy(intent) + cross-entropy(slot tags), slot loss
  masked for utterances with no annotation (the out-of-scope ones).
- {training["epochs"]} epochs, batch {training["batch_size"]}, AdamW lr {training["learning_rate"]} for the encoder and
  {head_lr} for the heads (weight decay {training["weight_decay"]}), linear warmup {training["warmup_fraction"]:.0%} then decay, seed
  {training["seed"]}, {training["threads"]} CPU threads: {training["seconds"]:.0f} s of training.

| epoch | train loss | valid intent accuracy | valid slot F1 | seconds |
| --- | --- | --- | --- | --- |
{epochs}

## Calibration

The temperature minimises the negative log-likelihood of the INT8 model's intent logits on the
validation set (HWU64 valid + CLINC150 oos_val): NLL {valid["valid_nll_uncalibrated"]:.4f} at T = 1 ->
{valid["valid_nll_calibrated"]:.4f} at T = {manifest["temperature"]:.4f}. The out-of-scope threshold
(`--threshold-rule {valid["threshold_rule"]}`) is the one that maximises, on the same validation set,
{describe_threshold_rule(valid["threshold_rule"])}; ties go to the lower threshold. Score at the threshold:
{_pct(valid["threshold_rule_score"])}. The other rule, `balanced`, weighs the 100 out-of-scope validation
utterances as much as the 1,076 in-scope ones: it catches more out-of-scope turns and rejects
many more in-scope ones. Other thresholds on the test sets:

| threshold | HWU64 test accuracy | in-scope false rejects | oos_test recall |
| --- | --- | --- | --- |
{tradeoff}

## Evaluation (INT8 model, onnxruntime {env["onnxruntime"]}, 1 thread, batch 1)

| metric | value |
| --- | --- |
| HWU64 test accuracy (64 intents, argmax; `{manifest["oos_label"]}` counts as wrong) | {_pct(m["hwu64_test_accuracy"])} |
| HWU64 test accuracy with the threshold applied | {_pct(m["hwu64_test_accuracy_at_threshold"])} |
| slot F1 (exact spans, {m["slot_test_items"]} annotated test utterances) | {_pct(m["slot_f1"])} |
| CLINC150 oos_test recall ({m["oos_test_items"]} utterances) | {_pct(m["oos_recall"])} |
| in-scope false-reject rate at the threshold | {_pct(m["in_scope_false_reject_rate"])} |
| expected calibration error (top-1, 15 bins, HWU64 test) | {m["ece"]:.4f} (uncalibrated {m["ece_uncalibrated"]:.4f}) |
| expected calibration error, HWU64 test + oos_test | {m["ece_with_oos_test"]:.4f} |
| model size | {m["size_mb"]} MB (fp32 {fp32["size_mb"]} MB) |
| latency per query, model only | mean {m["latency_ms_mean"]:.2f} ms, p95 {m["latency_ms_p95"]:.2f} ms (fp32 mean {fp32["latency_ms_mean"]:.2f} ms) |
| fp32 ONNX HWU64 test accuracy, for comparison | {_pct(fp32["hwu64_test_accuracy"])} |

Measured on: {env["machine"]}; the 1-minute load average while timing was
{m["latency_load_average_1min"]:.1f} (INT8) and {fp32["latency_load_average_1min"]:.1f} (fp32): on a busy machine the
latencies are pessimistic, so re-measure with the evaluation command below.

The fp32 model was exported with Optimum's `optimum.exporters.onnx.export` and a custom
`OnnxConfig` (inputs `input_ids`, `attention_mask`; outputs `intent_logits`, `slot_logits`),
then checked against PyTorch with `validate_model_outputs`. `onnx_export_from_model` refuses
model classes defined outside `transformers` (it infers the library from the class's module).

## Reproduce

    {manifest["command"]}
    {evaluate}

Quantization: {manifest["quantization"].get("preset", "")} through {manifest["quantization"].get("tool", "")}.
Versions: torch {env["torch"]}, transformers {env["transformers"]}, optimum {env["optimum"]},
optimum-onnx {env["optimum_onnx"]}, onnxruntime {env["onnxruntime"]}.

## Limits

English only; trained on short typed home-assistant commands (HWU64), not on ASR output.
Out-of-scope detection learned from a few hundred CLINC150 examples; expect misses on
out-of-scope requests close to the home domains. Slot types rare in training (for example
`music_album`, `game_type`) are effectively never predicted. INT8 multiplies unsigned 8-bit
activations by signed 8-bit weights; on x86 CPUs without AVX512-VNNI that product can saturate:
if accuracy drops there, rebuild with `--quantization-preset avx2` (unsigned weights) and check with
the evaluation command.
"""


def generic_card(manifest: dict[str, Any]) -> str:
    """A short card for bundles made by `distill.chain` (any dataset); `distill eval` adds test figures."""
    m, training = manifest["metrics"], manifest["metrics"]["training"]
    data = ", ".join(f"{split} {count}" for split, count in m["data"].items())
    evaluation = m.get("test")
    table = (
        "\n".join(f"| {k} | {v} |" for k, v in evaluation.items() if not isinstance(v, dict))
        if evaluation
        else "| (not measured) | |"
    )
    return f"""# Intent + slot model (all-MiniLM-L6-v2, INT8 ONNX)

Fine-tuned from `{manifest["base_model"]}` by `distill`, exported with Optimum, quantized to INT8
for the `{manifest["device_profile"]}` device profile ({manifest["quantization"].get("preset", "")}).

- Data: {data} examples. {training["epochs"]} epochs, batch {training["batch_size"]}, {training["seconds"]:.0f} s of training.
- Decision: {decision_text(manifest)}
- Text must go through `edge.core.text.normalize.normalize_utterance` (the device does this).

## Test (device runtime, 1 thread)

| metric | value |
| --- | --- |
{table}

## Reproduce

    {manifest["command"]}
"""


def decision_text(manifest: dict[str, Any]) -> str:
    """How the bundle decides the intent, in one sentence (both `oos_score`s of edge.nlu.oos)."""
    head = f"softmax(intent_logits / {manifest['temperature']:.4f}); out of scope when the top intent is\n  "
    oos, threshold = manifest["oos_label"], manifest["oos_threshold"]
    if manifest.get("oos_score", PROBABILITY) == LOGIT_MARGIN:
        return (
            head + f"`{oos}` or the best in-scope calibrated logit exceeds the `{oos}` one by less than "
            f"{threshold:.4f} (`oos_score: logit_margin`)."
        )
    return head + f"`{oos}` or its probability is below {threshold:.4f}."


def distilled_card(manifest: dict[str, Any], side_by_side: dict[str, Any] | None = None) -> str:
    """The card for bundles made by `distill run` (teacher -> student); with the evaluation stage's
    summary, the teacher / fp32 / INT8 table and the speed-up."""
    m = manifest["metrics"]
    student, teacher = m.get("student", {}), m.get("teacher", {})
    settings = student.get("settings", {})
    data = ", ".join(f"{split} {count}" for split, count in m["data"].items())
    quantization = manifest["quantization"]
    quant = quantization.get("preset") or quantization.get("calibration") or quantization.get("format", "")
    rows = "| (run the evaluate stage) | |"
    if side_by_side:
        names = list(side_by_side["columns"])
        keys = (
            "accuracy", "macro_f1", "oos_recall", "oos_precision", "slot_f1", "ece",
            "size_mb", "bundle_size_mb", "ms_per_query_mean",
        )
        header = "| metric | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
        lines = []
        for key in keys:
            values = [side_by_side["columns"][n].get(key) for n in names]
            if all(v is None for v in values):
                continue
            cells = [
                "n/a"
                if v is None
                else (
                    f"{100 * v:.2f}%"
                    if key in ("accuracy", "macro_f1", "oos_recall", "oos_precision", "slot_f1")
                    else f"{v:.3f}"
                )
                for v in values
            ]
            label = "bundle_size_mb (all files)" if key == "bundle_size_mb" else key
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        rows = header + "\n" + "\n".join(lines)
        rows += (
            f"\n\n{side_by_side['dataset']} {side_by_side['split']} split, out-of-scope threshold rule "
            f"`{side_by_side['threshold_rule']}`. Speed-up teacher / INT8 student at one thread: "
            f"**{side_by_side['speedup_teacher_over_int8']:.1f}x**."
        )
    members = teacher.get("ensemble") or []
    teacher_text = (
        f"an ensemble of {len(members)} fine-tuned `{teacher.get('model', '?')}` teachers (their averaged logits)"
        if members
        else f"a fine-tuned `{teacher.get('model', '?')}` teacher"
    )
    transfer = (
        f", plus a transfer set of {student['transfer_utterances']} unlabelled utterances labelled by the teacher"
        if student.get("transfer_utterances")
        else ""
    )
    return f"""# Distilled intent + slot model (INT8 ONNX)

`{manifest["base_model"]}`. Knowledge distillation (temperature-scaled soft targets, pooled
hidden-state matching) from {teacher_text}, then Optimum
ONNX export and INT8 ({quant}) for the `{manifest["device_profile"]}` device profile.

- Data: {data} examples{transfer}; student vocabulary {student.get("vocabulary", "?")} tokens,
  {student.get("parameters", 0) / 1e6:.1f}M parameters, {settings.get("epochs", "?")} epochs,
  KD temperature {settings.get("temperature", "?")}, soft weight {settings.get("soft_weight", "?")}.
- Decision: {decision_text(manifest)}
- Slots: the argmax BIO tag of every token, special tokens skipped, joined into character spans
  as `distill.metrics.decode_spans` does.
- Text must go through `edge.core.text.normalize.normalize_utterance` (the device does this).

## Teacher and students side by side

{rows}

## Reproduce

    {manifest["command"]}
"""
