"""Labelled utterances for intent + slot training, from every source `distill` reads.

One record type (`Example`: normalised text, intent, slots as character spans) and one error
(`DataFormatError`, which names the file and line). `load_dataset(name, data_dir)` returns
`{"train", "valid", "test"}` splits; `distill data NAME` prints their report.
"""

from distill.data.records import DataFormatError, Example, SlotSpan

__all__ = ["DataFormatError", "Example", "SlotSpan"]
