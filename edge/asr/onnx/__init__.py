"""The fast ASR path: Whisper tiny.en as ONNX graphs (built on the device from the bundled
CTranslate2 weights, no torch), log-mel features and greedy decoding in numpy, biased toward the
installed skills' words.

    ct2.py        the CTranslate2 model.bin reader, and its weights under openai-whisper's names
    graphs.py     the encoder and one-step decoder written with onnx.helper
    build.py      build, quantize (INT8) and cache the graphs on first use; `python -m edge.asr.onnx.build`
    artifacts.py  where the graphs live, their manifest, and why a folder cannot be loaded
    features.py   log-mel spectrogram (the same numbers as faster-whisper's)
    greedy.py     greedy decoding with a key/value cache over any `WhisperRunner`
    tokens.py     tokenizer, special tokens, suppression, vocabulary bias
    vocabulary.py the words the installed skills listen for
    engine.py     `OnnxWhisperAsr`, the engine `asr.engine = "onnx-whisper"` names
"""
