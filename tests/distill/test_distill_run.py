"""`distill run`: the whole chain on the tiny configuration (mpnet teacher -> 2-layer pruned
student -> INT8 bundle -> report), interrupted and resumed, plus its parts: vocabulary pruning,
resumable training, static INT8, LoRA adapters, and configuration errors."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers.distill_runs import CONTEXT, TINY, distill

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not CONTEXT.is_file(), reason="needs ../shared/data")


def test_a_resumed_run_skips_finished_stages_and_writes_a_working_bundle(tiny_run):
    work, out = tiny_run["work"], tiny_run["out"]
    assert (work / "teacher.done.json").read_bytes() == tiny_run["teacher_marker"]  # not redone
    assert "stage teacher: already done" in tiny_run["second"].stderr
    assert "INT8 accuracy" in tiny_run["second"].stdout
    for name in ("model.onnx", "tokenizer.json", "labels.json", "bundle.json", "MODEL_CARD.md"):
        assert (out / name).is_file(), name

    from distill.bundle_eval import load_model
    from distill.data.sources import rhino_splits

    model = load_model(out)  # the device runtime
    test = rhino_splits(CONTEXT)["test"][:40]
    right = sum(model.predict(e.text).intent == e.intent for e in test)
    assert right / len(test) >= 0.9


def test_the_report_puts_teacher_fp32_and_int8_side_by_side(tiny_run):
    work, out = tiny_run["work"], tiny_run["out"]
    summary = json.loads((work / "report" / "side_by_side.json").read_text())
    teacher, fp32, int8 = (summary["columns"][name] for name in summary["columns"])
    assert teacher["size_mb"] > 50 * int8["size_mb"]  # 110M-parameter teacher vs a pruned 2-layer student
    assert int8["size_mb"] < fp32["size_mb"]
    assert summary["speedup_teacher_over_int8"] > 1
    assert abs(summary["int8_minus_teacher_accuracy"]) <= 0.1
    for name in ("report.html", "report.md", "confusion.png"):
        assert (work / "report" / name).stat().st_size > 0
    card = (out / "MODEL_CARD.md").read_text()
    assert "Teacher and students side by side" in card and "Speed-up teacher / INT8 student" in card
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["metrics"]["student"]["vocabulary"] < 30522
    assert manifest["metrics"]["student"]["distilled"] is True


def test_the_transfer_set_is_labelled_by_the_teacher_and_used_by_the_student(tiny_run):
    import numpy as np

    work = tiny_run["work"]
    student = json.loads((work / "student.done.json").read_text())
    with np.load(work / "teacher" / "outputs_transfer.npz") as transfer, np.load(
        work / "teacher" / "outputs_train.npz"
    ) as train:
        assert transfer["logits"].shape[1] == train["logits"].shape[1]
        assert transfer["pooled"].shape[1:] == train["pooled"].shape[1:]
        # configs/tiny-transfer.txt (12 lines) + about one noisy copy of each of the 100 training texts
        assert student["transfer_utterances"] == transfer["logits"].shape[0] > 12 + 50


def test_resuming_with_a_different_configuration_is_refused(tiny_run):
    work, out = tiny_run["work"], tiny_run["out"]
    changed = distill("run", str(TINY), "--set", f"work={work}", "--set", f"out={out}", "--set", "limit=50")
    assert changed.returncode == 2
    assert "different configuration" in changed.stderr and "delete" in changed.stderr


def test_another_device_profile_rebuilds_only_the_bundle_from_the_trained_student(tiny_run):
    work = tiny_run["work"]
    student_marker = (work / "student.done.json").read_bytes()
    rk3588 = tiny_run["base"] / "bundle-rk3588"
    again = distill("run", str(TINY), "--set", f"work={work}", "--set", f"out={rk3588}", "--set", "device_profile=rk3588")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "the bundle and evaluate stages will be redone" in again.stderr
    assert (work / "student.done.json").read_bytes() == student_marker  # not retrained
    manifest = json.loads((rk3588 / "bundle.json").read_text())
    assert manifest["device_profile"] == "rk3588" and manifest["quantization"]["format"] == "QDQ"
    assert json.loads((tiny_run["out"] / "bundle.json").read_text())["device_profile"] == "generic"  # left alone


def test_a_copied_run_under_another_name_rebundles_with_the_logit_margin(tiny_run):
    base = tiny_run["base"]
    work, out = base / "run-margin", base / "bundle-margin"
    shutil.copytree(tiny_run["work"], work)
    student_marker = (work / "student.done.json").read_bytes()
    again = distill(
        "run", str(TINY), "--set", f"work={work}", "--set", f"out={out}", "--set", "name=tiny-margin",
        "--set", "oos_score=logit_margin",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "the bundle and evaluate stages will be redone" in again.stderr
    assert (work / "student.done.json").read_bytes() == student_marker  # not retrained
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["format_version"] == 2 and manifest["oos_score"] == "logit_margin"
    assert manifest["oos_threshold"] >= 0 and manifest["metrics"]["validation"]["oos_score"] == "logit_margin"
    assert "`oos_score: logit_margin`" in (out / "MODEL_CARD.md").read_text()
    assert "bundle_size_mb (all files)" in (out / "MODEL_CARD.md").read_text()
    summary = json.loads((work / "report" / "side_by_side.json").read_text())
    teacher = next(iter(summary["columns"].values()))  # decided on the same score as the bundle
    assert teacher["oos_score"] == "logit_margin"

    from distill.bundle_eval import load_model
    from distill.data.sources import rhino_splits

    model = load_model(out)  # the device runtime reads format 2
    test = rhino_splits(CONTEXT)["test"][:40]
    assert sum(model.predict(e.text).intent == e.intent for e in test) / len(test) >= 0.9
    bad = distill("run", str(TINY), "--set", f"work={work}", "--set", f"out={out}", "--set", "oos_score=energy")
    assert bad.returncode == 2 and "oos_score: choose probability or logit_margin, not 'energy'" in bad.stderr


def test_static_int8_is_calibrated_and_agrees_with_fp32(tiny_run):
    from tokenizers import Tokenizer

    from distill import evaluate as ev
    from distill.data.sources import rhino_splits
    from distill.profiles import DeviceProfile
    from distill.quantize import quantize_for_profile

    work = tiny_run["work"]
    splits = rhino_splits(CONTEXT)
    valid = [e.to_utterance() for e in splits["valid"]]
    static = tiny_run["base"] / "static.onnx"
    record = quantize_for_profile(
        work / "student" / "onnx" / "model.onnx",
        static,
        DeviceProfile(quantization_format="QDQ", activations="static"),
        "auto",
        work / "student" / "tokenizer.json",
        valid,
    )
    assert record["mode"] == "static" and record["format"] == "QDQ"
    tokenizer = Tokenizer.from_file(str(work / "student" / "tokenizer.json"))
    labels = json.loads((tiny_run["out"] / "labels.json").read_text())
    test = [e.to_utterance() for e in splits["test"][:60]]
    fp32 = ev.predict(ev.open_session(work / "student" / "onnx" / "model.onnx"), tokenizer, test, labels["slot_tags"])
    int8 = ev.predict(ev.open_session(static), tokenizer, test, labels["slot_tags"])
    agreement = (fp32.intent_logits.argmax(-1) == int8.intent_logits.argmax(-1)).mean()
    assert agreement >= 0.95
    assert static.stat().st_size < (work / "student" / "onnx" / "model.onnx").stat().st_size / 2


def test_a_teacher_of_per_domain_adapters_is_stacked_and_distilled(tmp_path, monkeypatch):
    """`teacher: {domains: auto}`: one LoRA adapter per intent-name domain on a frozen encoder (the
    bundled MiniLM stands in for mpnet to keep this fast), stacked into the student's soft targets."""
    import numpy as np

    from distill.baseline import base_model_dir

    templates = {
        "alarm_set": ["set an alarm for {}", "wake me up at {}", "alarm at {} please"],
        "alarm_query": ["what alarms do i have at {}", "is there an alarm at {}", "check my {} alarm"],
        "weather_query": ["will it rain at {}", "what is the weather at {}", "how cold is it at {}"],
        "music_play": ["play some jazz at {}", "put on music at {}", "start my playlist at {}"],
    }
    times = ["six", "seven", "eight", "nine", "ten", "noon"]
    rows = [f"{t.format(h)},{intent}" for intent, ts in templates.items() for t in ts for h in times]
    (tmp_path / "domains.csv").write_text("text,intent\n" + "\n".join(rows) + "\n")
    config = tmp_path / "domains.yaml"
    config.write_text(
        "name: domains\ndataset: domains.csv\nout: bundle\nwork: run\nmax_length: 24\n"
        f"teacher: {{model: {base_model_dir()}, domains: auto, lora_rank: 4, epochs: 2, batch_size: 8}}\n"
        "student: {layers: [0], epochs: 2, batch_size: 8}\n"
    )
    result = distill("run", str(config), "--stop-after", "student", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "teacher" / "domains.json").read_text())
    assert set(manifest["domains"]) == {"alarm", "weather", "music"}
    with np.load(tmp_path / "run" / "teacher" / "outputs_valid.npz") as valid:
        logits = valid["logits"]
    assert logits.shape[1] == len(templates) + 1  # every intent + out of scope, from three experts
    from distill.run import Run, load_config

    monkeypatch.chdir(tmp_path)  # the config's relative paths
    data, intents, _, _ = Run(load_config(config)).data()
    predicted = [intents[i] for i in logits.argmax(1)]
    right = sum(p == u.intent for p, u in zip(predicted, data["valid"], strict=True))
    assert right / len(predicted) >= 0.75, predicted
    student = json.loads((tmp_path / "run" / "student.done.json").read_text())
    assert student["distilled"] is True


def test_config_errors_name_the_file_line_and_key(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: x\ndataset: [unclosed\n")
    result = distill("run", str(bad_yaml))
    assert result.returncode == 2 and f"{bad_yaml}:3: not valid YAML" in result.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: x\ndataset: hwu64\nout: /tmp/x\nteacher:\n  epoch: 2\n")
    result = distill("run", str(typo))
    assert result.returncode == 2 and "unknown teacher setting 'epoch'" in result.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text("name: x\ndataset: hwu64\n")
    result = distill("run", str(missing))
    assert result.returncode == 2 and "'out' is required" in result.stderr
    for setting, message in (
        ("augment: lots", "augment: expected a whole number, got 'lots'"),
        ("threshold_rule: best", "threshold_rule: unknown threshold rule 'best'"),
        ("teacher: {init: /nope}", "teacher.init: /nope holds no finished teacher"),
        ("transfer: [no-such-set]", "transfer source 'no-such-set' is neither a dataset"),
        ("student: {soft_loss: l1}", "student.soft_loss: choose kl or mse, not 'l1'"),
        ("student: {extra_vocabulary: lots}", "student.extra_vocabulary: expected a whole number, got 'lots'"),
        ("teacher: {learning_rate: fast}", "teacher.learning_rate: expected a number, got 'fast'"),
    ):
        wrong = tmp_path / "wrong.yaml"
        wrong.write_text(f"name: x\ndataset: hwu64\nout: {tmp_path / 'b'}\nwork: {tmp_path / 'w'}\nlimit: 20\n{setting}\n")
        result = distill("run", str(wrong))
        assert result.returncode == 2 and message in result.stderr, (setting, result.stderr[-500:])


def test_pruned_vocabulary_keeps_ids_consistent_and_spells_unseen_words():
    from tokenizers import Tokenizer

    from distill.baseline import shipped_tokenizer
    from distill.student import pruned_token_ids, pruned_tokenizer_json

    texts = ["make me a large latte", "order a double espresso with oat milk"]
    base = shipped_tokenizer(48)
    kept = pruned_token_ids(texts, base)
    pruned = Tokenizer.from_str(pruned_tokenizer_json(base.to_str(), kept))
    new_id = {old: new for new, old in enumerate(kept)}
    for text in texts:
        old = base.encode(text)
        assert pruned.encode(text).ids == [new_id[i] for i in old.ids[: sum(old.attention_mask)]]
    assert pruned.token_to_id("[PAD]") == 0
    unseen = pruned.encode("zymurgy")
    assert pruned.token_to_id("[UNK]") not in unseen.ids and len(unseen.ids) > 3  # spelled in pieces
    assert len(kept) < 30522 // 10  # specials, characters and the two texts' tokens
    everything = pruned_token_ids(texts, base, characters="all")
    assert set(kept) < set(everything) and len(everything) - len(kept) > 1000  # the non-ASCII characters
    assert Tokenizer.from_str(pruned_tokenizer_json(base.to_str(), kept)).encode("茶").tokens[1] == "[UNK]"


def test_extra_vocabulary_keeps_the_transfer_texts_most_frequent_new_pieces():
    from distill.baseline import shipped_tokenizer
    from distill.student import frequent_new_token_ids, pruned_token_ids

    base = shipped_tokenizer(48)
    kept = pruned_token_ids(["set an alarm"], base)
    transfer = ["play some jazz", "play jazz", "jazz please", "play the radio"]
    chosen = frequent_new_token_ids(transfer, base, set(kept), 2)
    assert [base.id_to_token(i) for i in chosen] == ["play", "jazz"]  # 3 times each; "play" has the lower id
    assert frequent_new_token_ids(transfer, base, set(kept), 0) == []
    everything = frequent_new_token_ids(transfer, base, set(kept), 100)
    assert not set(everything) & set(kept) and {"radio", "the", "please", "some"} <= {
        base.id_to_token(i) for i in everything
    }


def test_an_interrupted_training_resumes_after_its_last_epoch(tmp_path):
    from distill.baseline import base_model_dir, shipped_tokenizer
    from distill.hwu64 import Utterance
    from distill.student import shallow_student
    from distill.train import TrainSettings, encode, supervised_loss, train

    data = [
        Utterance(t, i, None)
        for t, i in [
            ("turn on the light", "on"),
            ("switch the lamp on", "on"),
            ("turn off the light", "off"),
            ("switch the lamp off", "off"),
        ]
        * 3
    ]
    tokenizer = shipped_tokenizer(16)
    items = encode(data, tokenizer, ["on", "off"], ["O"])
    settings = TrainSettings(epochs=2, batch_size=4, seed=1)
    checkpoint = tmp_path / "checkpoint.pt"
    calls = {"n": 0}

    def interrupted(model, batch):
        calls["n"] += 1
        if calls["n"] > 3:  # 3 batches per epoch: stop at the first batch of epoch 2
            raise KeyboardInterrupt
        return supervised_loss(model, batch)

    model = shallow_student(base_model_dir(), ["on", "off"], ["O"], (0,), None)
    with pytest.raises(KeyboardInterrupt):
        train(model, items, items, ["O"], settings, loss_fn=interrupted, checkpoint=checkpoint)
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["epoch"] == 1 and len(saved["history"]) == 1

    resumed = shallow_student(base_model_dir(), ["on", "off"], ["O"], (0,), None)
    history = train(resumed, items, items, ["O"], settings, checkpoint=checkpoint)
    assert [record["epoch"] for record in history] == [1, 2]
    assert history[0] == saved["history"][0]  # epoch 1 came from the checkpoint, not retrained


def test_lora_adapters_train_only_the_adapters_and_heads():
    from distill.baseline import base_model_dir
    from distill.lora import attention_projections, with_lora
    from distill.teacher import EncoderForIntentAndSlots

    model = EncoderForIntentAndSlots(base_model_dir(), ["a", "b", "c"], ["O"])
    assert attention_projections(model.encoder) == ["key", "query", "value"]
    model = with_lora(model, rank=4)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or name.startswith(("intent_head", "slot_head")) for name in trainable)
    total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for name, p in model.named_parameters() if name in trainable) < 0.02 * total
    ids = torch.tensor([[101, 2735, 2006, 1996, 2422, 102]])
    assert model(input_ids=ids).intent_logits.shape == (1, 3)


def test_trimmed_position_embeddings_give_the_same_logits():
    from distill.baseline import base_model_dir, shipped_tokenizer
    from distill.student import shallow_student, trim_positions

    model = shallow_student(base_model_dir(), ["a", "b"], ["O"], (0, 1), None).eval()
    encoding = shipped_tokenizer(48).encode("turn on the kitchen lights please")
    ids, mask = torch.tensor([encoding.ids]), torch.tensor([encoding.attention_mask])
    before = model(input_ids=ids, attention_mask=mask).intent_logits
    trim_positions(model, 48)
    assert model.bert.embeddings.position_embeddings.num_embeddings == 48
    assert torch.allclose(before, model(input_ids=ids, attention_mask=mask).intent_logits)


def test_a_moved_run_folder_or_a_setting_added_since_is_not_a_changed_configuration(tmp_path):
    from dataclasses import asdict

    from distill.data.records import DataFormatError
    from distill.run import Run, load_config

    (tmp_path / "c.yaml").write_text(f"name: c\ndataset: hwu64\nout: b\nwork: {tmp_path / 'moved'}\n")
    config = load_config(tmp_path / "c.yaml")
    saved = json.loads(json.dumps(asdict(config), default=str))
    saved.update(work="/somewhere/else", source="old.yaml")
    for newer_key in ("transfer", "transfer_limit", "augment"):  # an older run's config.json lacks them
        saved.pop(newer_key)
    config.work.mkdir(parents=True)
    (config.work / "config.json").write_text(json.dumps(saved))
    (config.work / "bundle.done.json").write_text("{}")
    Run(config)._check_config_unchanged()
    assert (config.work / "bundle.done.json").is_file()  # nothing that matters changed: nothing redone
    saved["oos"] = 100
    (config.work / "config.json").write_text(json.dumps(saved))
    with pytest.raises(DataFormatError, match="oos changed"):
        Run(config)._check_config_unchanged()


def test_a_teacher_continues_from_a_finished_one_and_refuses_other_labels(tmp_path):
    from distill.baseline import base_model_dir
    from distill.hwu64 import Utterance
    from distill.recipes import TeacherSettings
    from distill.teacher import TeacherError, fine_tune_teacher

    texts = {"alarm_set": ["set an alarm for {}", "wake me at {}"], "weather_query": ["weather at {}", "rain at {}"]}
    hours = ["six", "seven", "eight", "nine", "ten"]
    data = {
        split: [Utterance(t.format(h), intent) for intent, ts in texts.items() for t in ts for h in chosen]
        for split, chosen in (("train", hours[:4]), ("valid", hours[4:]))
    }
    intents, tags = ["alarm_set", "weather_query", "out_of_scope"], ["O"]
    settings = TeacherSettings(model=str(base_model_dir()), epochs=2, batch_size=4, max_length=16)
    first = fine_tune_teacher(data, intents, tags, tmp_path / "first", settings)
    more = TeacherSettings(**{**settings.__dict__, "epochs": 1, "init": str(tmp_path / "first")})
    second = fine_tune_teacher(data, intents, tags, tmp_path / "second", more)
    assert second["history"][0]["valid_intent_accuracy"] >= first["history"][-1]["valid_intent_accuracy"]
    with pytest.raises(TeacherError, match="other intents or slot tags"):
        fine_tune_teacher(data, ["alarm_set", "weather_query", "x", "out_of_scope"], tags, tmp_path / "third", more)
