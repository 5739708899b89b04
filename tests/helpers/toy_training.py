"""Test helper: a toy intent model (an embedding and the real two heads, no dropout) trained by
`distill.train.train`, alone or under `accelerate launch`; the main process saves the trained
weights, the extra loss parameter and the history, so a test can check that N processes take
exactly the steps of one.

    python tests/helpers/toy_training.py OUT.pt
    accelerate launch --multi_gpu --num_processes 2 tests/helpers/toy_training.py OUT.pt

13 utterances in batches of 4 by length: a last batch of one item (one process gets an empty
slice), no slot annotation (the slot head is in no loss: unused by DDP), and an extra parameter
outside the model and the pooled hidden states, as the student's distillation loss has.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's distill


def toy_items():
    from distill.train import IGNORE, Encoded

    items = []
    for index in range(13):
        length = 3 + index % 5
        ids = [1 + (index * 7 + k * 3) % 29 for k in range(length)]
        items.append(Encoded(ids, [(0, 0)] * length, [IGNORE] * length, index % 3, index))
    return items


def build_model():
    import torch
    from torch import nn

    from distill.joint_model import joint_output

    class Toy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(32, 8)
            self.dropout = nn.Dropout(0.0)
            self.intent_head = nn.Linear(8, 3)
            self.slot_head = nn.Linear(8, 2)

        def forward(self, input_ids, attention_mask=None, intent_labels=None, slot_labels=None, pooled_layers=False):
            hidden = self.embed(input_ids)
            encoded = type("Encoded", (), {"last_hidden_state": hidden, "hidden_states": (hidden, hidden.tanh())})
            mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
            return joint_output(self, encoded, mask, intent_labels, slot_labels, pooled_layers)

    torch.manual_seed(5)
    return Toy()


def main(out: Path) -> None:
    import torch
    from torch import nn

    from distill.train import TrainSettings, processes, train

    model, items = build_model(), toy_items()
    extra = nn.Parameter(torch.full((3,), 0.5))

    def loss_fn(model, batch):  # per-item means, like the distillation loss's terms; one forward
        out = model(**{key: value for key, value in batch.items() if key != "example_index"}, pooled_layers=True)
        pulled = ((out.intent_logits - extra) ** 2).sum(-1).mean()
        return out.loss + 0.1 * pulled + 0.1 * out["pooled_layers"][:, 1].pow(2).sum(-1).mean()

    settings = TrainSettings(epochs=3, batch_size=4, learning_rate=0.05, head_learning_rate=0.05,
                             bucket_by_length=True, seed=3)
    history = train(model, items, items, ["O", "B-x"], settings, loss_fn=loss_fn, extra_parameters=[extra])
    if processes().is_main_process:
        torch.save({"model": model.state_dict(), "extra": extra.detach().clone(), "history": history,
                    "processes": processes().num_processes}, out)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
