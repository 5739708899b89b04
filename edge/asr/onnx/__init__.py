"""The fast ASR path: Whisper tiny.en as ONNX graphs (built by `distill.whisper_export`),
log-mel features and greedy decoding in numpy, biased toward the installed skills' words.

    features.py   log-mel spectrogram (the same numbers as faster-whisper's)
    greedy.py     greedy decoding with a key/value cache over any `WhisperRunner`
    tokens.py     tokenizer, special tokens, suppression, vocabulary bias
    vocabulary.py the words the installed skills listen for
    artifacts.py  where the exported graphs live and what their manifest says
    engine.py     `OnnxWhisperAsr`, the engine `asr.engine = "onnx-whisper"` names
"""
