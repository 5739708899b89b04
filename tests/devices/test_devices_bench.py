"""`edge devices bench` parts that run in a test's time: sentence sampling, NLU timing, skipped stages."""

import pytest

from bench.devices.bench import bench_nlu, read_sentences, run_stage, summarize
from edge.core.settings import NluSettings


def test_sentences_are_spread_evenly_over_the_file(tmp_path):
    tsv = tmp_path / "test.tsv"
    tsv.write_text("text\tlabel\n" + "".join(f"sentence {index}\tintent_{index % 3}\n" for index in range(10)))
    assert read_sentences(tsv, 0) == [(f"sentence {index}", f"intent_{index % 3}") for index in range(10)]
    assert [text for text, _ in read_sentences(tsv, 4)] == ["sentence 0", "sentence 2", "sentence 5", "sentence 7"]


def test_nlu_stage_reports_accuracy_latency_and_the_session_providers(tiny_bundle):
    sentences = [("set an alarm for seven", "alarm_set"), ("weather in new york", "weather_query"),
                 ("what's the weather", "alarm_set")]  # wrong on purpose
    result = bench_nlu(NluSettings(bundle_dir=str(tiny_bundle)), ("CPUExecutionProvider",), sentences)
    assert result["session_providers"] == ["CPUExecutionProvider"]
    assert result["count"] == 3 and result["threads"] == 1
    assert result["accuracy"] == round(2 / 3, 4)
    assert 0 < result["p50_ms"] <= result["max_ms"] and result["peak_rss_mib"] > 0


def test_a_stage_that_cannot_run_says_why():
    def broken():
        raise ModuleNotFoundError("No module named 'piper'")

    assert run_stage("tts", broken) == {"skipped": "ModuleNotFoundError: No module named 'piper'"}


def test_summary_percentiles():
    assert summarize([4.0, 1.0, 3.0, 2.0]) == {"count": 4, "mean_ms": 2.5, "p50_ms": 3.0, "p90_ms": 4.0, "max_ms": 4.0}


def test_agreement_counts_same_top_intents_and_reports_accuracy_change():
    from bench.devices.agreement import compare

    def run(provider, intents):
        rows = [{"text": f"t{index}", "label": "a", "intent": intent, "confidence": 0.5 + index / 10}
                for index, intent in enumerate(intents)]
        accuracy = sum(row["intent"] == "a" for row in rows) / len(rows)
        return {"session_providers": [provider], "accuracy": accuracy, "predictions": rows}

    report = compare(run("CPUExecutionProvider", "aaab"), run("OpenVINOExecutionProvider", "aabb"))
    assert report["agreement"] == 0.75 and not report["passes"]
    assert report["accuracy_difference"] == -0.25
    assert report["disagreements"] == [{"text": "t2", "label": "a", "first": "a", "second": "b"}]
    with pytest.raises(ValueError, match="different sentences"):
        compare(run("x", "aa"), run("y", "aaa"))
