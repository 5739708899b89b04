# The README's two commands: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lint bench bench-live model demo-wavs clean chromium portaudio whisper-onnx mosquitto openvino openvino-agreement

# The device runtime only: no torch.
$(VENV)/.runtime: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

# Training/export extra and test tools on top (torch==2.13.0, CPU build). offline-llm compiles
# llama-cpp-python from its sdist the first time (about 7 minutes on 2 cores); pip's wheel cache
# (~/.cache/pip) keeps the built wheel, so later installs of the same pinned version take seconds.
$(VENV)/.test: $(VENV)/.runtime
	$(PIP) install -e '.[distill,test,cast,bridge,llm,offline-llm,skills,audio]'
	touch $@

run: $(VENV)/.runtime
	$(VENV)/bin/edge run

test: $(VENV)/.test chromium portaudio whisper-onnx mosquitto
	$(PY) -m pytest -q

# PortAudio for the sounddevice tests (they run the microphone and speaker on ALSA's null device;
# without PortAudio they skip and say why).
portaudio:
	@test -e /usr/lib/x86_64-linux-gnu/libportaudio.so.2 -o -e /usr/lib/aarch64-linux-gnu/libportaudio.so.2 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libportaudio2 >/dev/null; } || \
		echo "make: could not install libportaudio2 (not root?); the sound-device tests will skip"

# The fast ASR path: the bundled Whisper tiny.en exported to ONNX INT8 (needs torch, so the test
# extra) into ~/.cache/edge/whisper-onnx/; a no-op when it is up to date. Without it, asr.engine
# onnx-whisper falls back to faster-whisper (and says so).
whisper-onnx: $(VENV)/.test
	$(PY) -m distill.whisper_export

# Debian's chromium for the companion-page tests (Playwright is pointed at it; it never downloads
# a browser). Installed only when missing; without it those tests skip and say why.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null; } || echo "make: could not install chromium (not root?); the browser tests will skip"

# Debian's mosquitto MQTT broker for the smart-home tests (each test starts its own on a free
# port). Installed only when missing; without it those tests skip and say why.
mosquitto:
	@test -x /usr/sbin/mosquitto || command -v mosquitto >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; } || \
		echo "make: could not install mosquitto (not root?); the MQTT tests will skip"

bench: $(VENV)/.test
	$(PY) -m bench.turn_latency

# The live loop's benchmarks: ASR speed and WER, end of speech to first audio, wake word accuracy.
bench-live: $(VENV)/.test whisper-onnx
	$(PY) -m bench.asr_speed
	$(PY) -m bench.live_latency
	$(PY) -m bench.wakeword

# Rebuild the shipped intent model bundle (about 10 minutes on 2 cores).
model: $(VENV)/.test
	$(PY) -m distill.baseline --out edge/models/hwu64-minilm-int8

demo-wavs: $(VENV)/.test
	$(PY) -m edge.demo.make

clean:
	rm -rf $(VENV) out .pytest_cache

# onnxruntime's OpenVINO execution provider in its own venv: the onnxruntime-openvino wheel
# ships the same `onnxruntime` module as onnxruntime, so the two cannot share .venv.
# Then: make openvino-agreement (intent agreement CPU vs OpenVINO on HWU64 test).
.venv-openvino/.ready: pyproject.toml
	test -x .venv-openvino/bin/python || $(PYTHON) -m venv .venv-openvino
	.venv-openvino/bin/python -m pip --disable-pip-version-check -q install onnxruntime-openvino tokenizers numpy
	.venv-openvino/bin/python -m pip --disable-pip-version-check -q install --no-deps -e .
	touch $@

openvino: .venv-openvino/.ready

openvino-agreement: $(VENV)/.runtime .venv-openvino/.ready
	$(PY) -m devices.agreement --provider CPUExecutionProvider --out bench/results/agreement_cpu.json
	.venv-openvino/bin/python -m devices.agreement --provider OpenVINOExecutionProvider \
		--out bench/results/agreement_openvino.json
	$(PY) -m devices.agreement --compare bench/results/agreement_cpu.json bench/results/agreement_openvino.json
