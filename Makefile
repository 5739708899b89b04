# The README's two commands: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lint bench bench-live model demo-wavs clean chromium portaudio whisper-onnx mosquitto openvino openvino-agreement arm64-agreement arm64-demo rknn rknn-agreement

# The device runtime only: no torch.
$(VENV)/.runtime: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

# Training/export extra and test tools on top (torch==2.13.0, CPU build). offline-llm needs
# llama-cpp-python, compiled from its sdist the first time (about 7 minutes on 2 cores, below);
# the built wheel is kept, so later installs of the same pinned version take seconds.
$(VENV)/.test: $(VENV)/.runtime $(VENV)/.llama
	$(PIP) install -e '.[distill,test,cast,bridge,llm,offline-llm,skills,audio]'
	touch $@

# llama-cpp-python compiles llama.cpp from its sdist. Left to itself it builds for the CPU it
# compiles on (-march=native), which on our VMs includes AMX tiles that the CPU advertises but the
# VM does not allow (the server dies with SIGILL on its first request), and pip's wheel cache then
# hands that build to every later install. So it is built once for the portable baseline
# (GGML_NATIVE=OFF: AVX2, FMA, F16C on x86-64) into its own folder and installed from there.
LLAMA_CPP_VERSION := 0.3.36
PORTABLE_WHEELS := $(HOME)/.cache/edge-voice/wheels
$(VENV)/.llama: $(VENV)/.runtime
	ls $(PORTABLE_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) wheel --no-cache-dir --no-deps -w $(PORTABLE_WHEELS) \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(PIP) install --force-reinstall --no-deps $(PORTABLE_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
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

# The fast ASR path: the bundled Whisper tiny.en as ONNX INT8 graphs in ~/.cache/edge/whisper-onnx/,
# built by the runtime itself (no torch; `edge run` does the same on first use); a no-op when they
# are up to date. `python -m distill.whisper_export` is the PyTorch reference they are checked against.
whisper-onnx: $(VENV)/.runtime
	$(PY) -m edge.asr.onnx.build

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

# Style (ruff, with the complexity check) and the architecture: the layer contract of
# docs/architecture.md (import-linter, pyproject.toml) and no import cycles (tests/architecture).
lint: $(VENV)/.test
	$(VENV)/bin/ruff check edge distill devices firmware_bridge bench tests examples
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q -p no:cacheprovider tests/architecture

bench: $(VENV)/.test
	$(PY) -m bench.turn_latency

# The live loop's benchmarks: ASR speed and WER, end of speech to first audio, wake word accuracy.
bench-live: $(VENV)/.test whisper-onnx
	$(PY) -m bench.asr_speed
	$(PY) -m bench.live_latency
	$(PY) -m bench.wakeword

# Rebuild the shipped intent bundle (about 1.5 hours on 2 cores): two mpnet teachers (the first
# trained 2 + 1 epochs, the second 3), a 6-layer student distilled from their ensemble, INT8,
# swapped in only if it is no worse on any regression set (regression/registry.toml).
model: $(VENV)/.test
	$(VENV)/bin/distill run configs/hwu64.yaml --stop-after teacher
	$(VENV)/bin/distill run configs/hwu64-teacher3.yaml --stop-after teacher
	$(VENV)/bin/distill run configs/hwu64-teacher-b.yaml --stop-after teacher
	$(VENV)/bin/distill run configs/hwu64-ensemble-full-vocab.yaml
	$(VENV)/bin/distill promote bundles/hwu64-ensemble-full-vocab-student-int8 --deployed edge/models/hwu64-minilm-int8

demo-wavs: $(VENV)/.test
	$(PY) -m edge.runtime.demo.make

clean:
	rm -rf $(VENV) out .pytest_cache

# The intent bundle the device checks run on (make openvino-agreement BUNDLE=path/to/bundle).
BUNDLE ?= edge/models/hwu64-minilm-int8
# Prefix of the result files: AGREEMENT=agreement_student keeps the shipped bundle's results.
AGREEMENT ?= agreement

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
	$(PY) -m bench.devices.agreement --bundle $(BUNDLE) --provider CPUExecutionProvider --out bench/results/$(AGREEMENT)_cpu.json
	.venv-openvino/bin/python -m bench.devices.agreement --bundle $(BUNDLE) --provider OpenVINOExecutionProvider \
		--option device_type=CPU --out bench/results/$(AGREEMENT)_openvino.json
	$(PY) -m bench.devices.agreement --compare bench/results/$(AGREEMENT)_cpu.json bench/results/$(AGREEMENT)_openvino.json \
		| tee bench/results/$(AGREEMENT)_cpu_vs_openvino.json

# ARM64 correctness check under emulation (Debian qemu-user-static + a debootstrap arm64 root;
# not a timing). This container has no binfmt_misc, so there is no chroot: the root's own python
# runs through `qemu-aarch64-static -L ROOT`, with onnxruntime's aarch64 wheel installed from
# the host by pip --platform. onnxruntime's cpuinfo segfaults on the host's x86 /proc/cpuinfo, so
# an aarch64 one (devices/arm64_cpuinfo.txt, a Pi 5's) is bind-mounted over it in a private mount
# namespace (needs root). Same onnxruntime and tokenizers versions as .venv.
ARM64_ROOT ?= /var/tmp/edge-arm64-root
ARM64_PIP_PLATFORMS := --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64

$(ARM64_ROOT)/.ready: $(VENV)/.runtime
	command -v qemu-aarch64-static >/dev/null && command -v debootstrap >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap >/dev/null; }
	debootstrap --arch=arm64 --variant=minbase --foreign --include=python3.11,python3.11-minimal,libpython3.11-stdlib \
		bookworm $(ARM64_ROOT) http://deb.debian.org/debian
	for deb in $(ARM64_ROOT)/var/cache/apt/archives/*.deb; do dpkg-deb -x $$deb $(ARM64_ROOT); done
	$(PIP) install --target $(ARM64_ROOT)/opt/edge-site $(ARM64_PIP_PLATFORMS) --python-version 3.11 \
		--implementation cp --only-binary=:all: numpy \
		onnxruntime==$$($(PY) -c 'import onnxruntime; print(onnxruntime.__version__)') \
		tokenizers==$$($(PY) -c 'import tokenizers; print(tokenizers.__version__)')
	touch $@

arm64-agreement: $(ARM64_ROOT)/.ready
	$(PY) -m bench.devices.agreement --bundle $(BUNDLE) --out bench/results/$(AGREEMENT)_cpu.json
	unshare -m sh -c "mount --bind devices/arm64_cpuinfo.txt /proc/cpuinfo && PYTHONPATH=$(ARM64_ROOT)/opt/edge-site:$(CURDIR) \
		qemu-aarch64-static -cpu cortex-a76 -L $(ARM64_ROOT) $(ARM64_ROOT)/usr/bin/python3.11 \
		-m bench.devices.agreement --bundle $(BUNDLE) --out bench/results/$(AGREEMENT)_arm64_qemu.json"
	$(PY) -m bench.devices.agreement --compare bench/results/$(AGREEMENT)_cpu.json bench/results/$(AGREEMENT)_arm64_qemu.json \
		| tee bench/results/$(AGREEMENT)_cpu_vs_arm64_qemu.json

# The whole demo conversation (ONNX Whisper, intent bundle, skills, Piper voice) on ARM64 under the
# same emulation, compared turn by turn with this machine (bench/devices/demo_agreement.py). The
# root gets the aarch64 wheels of the runtime's compiled packages; the pure-Python rest, the
# Whisper tiny.en weights and the voice come from .venv (the graphs are built here first).
ARM64_DEMO_WHEELS := cffi PyYAML piper-tts soundfile soxr

$(ARM64_ROOT)/.demo-ready: $(ARM64_ROOT)/.ready
	$(PIP) install --target $(ARM64_ROOT)/opt/edge-site --upgrade $(ARM64_PIP_PLATFORMS) --platform linux_aarch64 \
		--python-version 3.11 --implementation cp --only-binary=:all: --no-deps \
		$$(for name in $(ARM64_DEMO_WHEELS); do printf '%s==%s ' $$name $$($(PY) -c "import importlib.metadata as m; print(m.version('$$name'))"); done)
	touch $@

arm64-demo: $(ARM64_ROOT)/.demo-ready whisper-onnx
	$(PY) -m bench.devices.demo_agreement --out bench/results/demo_x86_64.json
	unshare -m sh -c "mount --bind devices/arm64_cpuinfo.txt /proc/cpuinfo && \
		PYTHONPATH=$(ARM64_ROOT)/opt/edge-site:$(CURDIR):$$($(PY) -c 'import site; print(site.getsitepackages()[0])') \
		qemu-aarch64-static -cpu cortex-a76 -L $(ARM64_ROOT) $(ARM64_ROOT)/usr/bin/python3.11 \
		-m bench.devices.demo_agreement --out bench/results/demo_arm64_qemu.json"
	$(PY) -m bench.devices.demo_agreement --compare bench/results/demo_x86_64.json bench/results/demo_arm64_qemu.json \
		--result demo_agreement_x86_64_vs_arm64_qemu

# Rockchip rknn-toolkit2 (ONNX -> .rknn, and its x86 simulator) in its own venv: it pins
# numpy<=1.26.4, onnx<=1.18, protobuf<=4.25.4 and torch<=2.4.0. torch 2.4.0 from PyPI is a multi-GB
# CUDA build, so the toolkit goes in with --no-deps over the local CPU torch 2.13.0 (it imports
# torch at start-up and works with it for ONNX input) and setuptools<70 (it needs pkg_resources).
.venv-rknn/.ready:
	test -x .venv-rknn/bin/python || $(PYTHON) -m venv .venv-rknn
	.venv-rknn/bin/python -m pip --disable-pip-version-check -q install "numpy<=1.26.4" "onnx>=1.16.1,<=1.18.0" \
		"protobuf>=4.21.6,<=4.25.4" "onnxruntime>=1.17" scipy psutil ruamel.yaml tqdm opencv-python-headless \
		fast-histogram tokenizers torch==2.13.0 "setuptools<70"
	.venv-rknn/bin/python -m pip --disable-pip-version-check -q install --no-deps rknn-toolkit2==2.5.0
	touch $@

rknn: .venv-rknn/.ready

# The RK3588 NPU path in rknn-toolkit2's simulator: the bundle's model.onnx rewritten to float with
# its own weights (bench/devices/dequantize.py), INT8 calibrated on HWU64 validation utterances with the
# fused attention layers in fp16 (hybrid), then the HWU64 test split against the CPU provider.
# Leaves model.rknn in /tmp/edge-rknn (a board loads BUNDLE/model.rknn with rknn-toolkit-lite2).
# About 10 minutes on 2 busy cores. RKNN_MODE=fp16 or int8 for the other two conversions.
RKNN_MODE ?= hybrid
rknn-agreement: $(VENV)/.runtime .venv-rknn/.ready
	$(PY) -m bench.devices.agreement --bundle $(BUNDLE) --out bench/results/$(AGREEMENT)_cpu.json
	PYTHONPATH=$(CURDIR) .venv-rknn/bin/python -m bench.devices.rknn_check --bundle $(BUNDLE) --mode $(RKNN_MODE) \
		--work /tmp/edge-rknn/$(RKNN_MODE) --out bench/results/$(AGREEMENT)_rknn_sim_$(RKNN_MODE).json
	$(PY) -m bench.devices.agreement --compare bench/results/$(AGREEMENT)_cpu.json bench/results/$(AGREEMENT)_rknn_sim_$(RKNN_MODE).json \
		| tee bench/results/$(AGREEMENT)_cpu_vs_rknn_sim_$(RKNN_MODE).json
	$(PY) -m bench.devices.readme_table
