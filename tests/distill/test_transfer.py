"""The transfer set (distill/transfer.py): unlabelled texts the teacher labels for the student."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.data.records import DataFormatError
from distill.hwu64 import Utterance
from distill.train import IGNORE, UNLABELLED
from distill.transfer import augmented, transfer_utterances

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_text_file_sources_are_normalised_deduplicated_and_never_repeat_a_labelled_text(tmp_path):
    source = tmp_path / "more.txt"
    source.write_text("Set an ALARM, please\n\nset an alarm please\nwhat time is it\nplay jazz\n")
    chosen = transfer_utterances([str(source)], DATA, exclude={"play jazz"}, limit=None, seed=1)
    assert [u.text for u in chosen] == ["set an alarm please", "what time is it"]
    assert all(u.intent == UNLABELLED and u.word_tags is None for u in chosen)
    assert len(transfer_utterances([str(source)], DATA, set(), limit=1, seed=1)) == 1


@pytest.mark.skipif(not (DATA / "snips_joint").is_dir(), reason="needs ../shared/data")
def test_a_dataset_name_gives_its_training_texts_a_seeded_sample():
    first = transfer_utterances(["snips"], DATA, set(), limit=200, seed=3)
    again = transfer_utterances(["snips"], DATA, set(), limit=200, seed=3)
    assert len(first) == 200 and [u.text for u in first] == [u.text for u in again]
    assert len({u.text for u in first}) == 200


def test_an_unknown_source_or_a_wrong_file_type_says_what_is_accepted(tmp_path):
    with pytest.raises(DataFormatError, match="neither a dataset .*hwu64.* nor a text file"):
        transfer_utterances(["no-such-set"], DATA, set(), None, 1)
    (tmp_path / "texts.csv").write_text("text\nhello\n")
    with pytest.raises(DataFormatError, match=r"texts\.csv: a transfer file is plain text"):
        transfer_utterances([str(tmp_path / "texts.csv")], DATA, set(), None, 1)


def test_noisy_copies_differ_from_every_labelled_text_and_are_reproducible():
    train = [Utterance(t, "x") for t in ("wake me up at six", "set an alarm for six am", "turn the lights off")]
    labelled = {u.text for u in train}
    copies = augmented(train, copies=3, exclude=labelled, seed=5)
    assert copies and all(u.text not in labelled and u.intent == UNLABELLED for u in copies)
    assert [u.text for u in copies] == [u.text for u in augmented(train, 3, labelled, seed=5)]
    for copy in copies:  # one word dropped, swapped or replaced: close to some training text
        assert any(abs(len(copy.text.split()) - len(u.text.split())) <= 1 for u in train)


def test_unlabelled_utterances_train_on_soft_targets_only():
    torch = pytest.importorskip("torch")
    import numpy as np

    from distill.baseline import base_model_dir, shipped_tokenizer
    from distill.recipes import StudentSettings
    from distill.student import DistillationLoss, shallow_student
    from distill.train import collate, encode

    intents = ["alarm_set", "oos"]
    texts = [Utterance("set an alarm", "alarm_set"), Utterance("what is the weather", UNLABELLED)]
    encoded = encode(texts, shipped_tokenizer(24), intents, ["O"])
    assert [e.intent for e in encoded] == [0, IGNORE]
    model = shallow_student(base_model_dir(), intents, ["O"], (0,), None)
    teacher = {
        "logits": np.array([[4.0, -4.0], [-3.0, 3.0]], dtype=np.float32),
        "pooled": np.random.default_rng(0).normal(size=(2, 3, 384)).astype(np.float16),
    }
    loss = DistillationLoss(teacher, 1, StudentSettings(layers=(0,)), 384)
    only_unlabelled = collate([encoded[1]])
    value = loss(model, only_unlabelled)  # no gold label in the batch: still a finite loss
    assert torch.isfinite(value) and value.item() > 0
    value.backward()
    assert model.intent_head.weight.grad.abs().sum() > 0  # the teacher's soft targets move the head



def test_the_mse_soft_loss_matches_the_teachers_logits_scale_and_all():
    torch = pytest.importorskip("torch")
    from distill.recipes import StudentSettings
    from distill.student import soft_target_loss

    teacher = torch.tensor([[4.0, -4.0, 0.0]])
    kl, mse = StudentSettings(), StudentSettings(soft_loss="mse")
    scaled = teacher / 4  # same ranking, a quarter of the certainty
    assert soft_target_loss(teacher, teacher, mse).item() == 0
    assert soft_target_loss(teacher + 5, teacher, kl).item() < 1e-6  # softmax ignores a shift...
    assert soft_target_loss(teacher + 5, teacher, mse).item() == pytest.approx(25)  # ...MSE does not
    assert soft_target_loss(scaled, teacher, mse).item() > soft_target_loss(teacher * 0.9, teacher, mse).item()
