"""Whisper's log-mel features in numpy (the same numbers faster-whisper computes).

80 mel bands, 25 ms Hann windows every 10 ms (n_fft 400, hop 160) at 16 kHz, log10, clamped
to 8 below the peak, scaled to about [-1, 1]. `context_frames` pads (with zeros, as
faster-whisper pads its features) or cuts the result to the encoder context being used.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000  # hertz
N_FFT = 400
HOP = 160  # samples per frame: 100 frames per second
N_MELS = 80
FULL_CONTEXT_FRAMES = 3000  # 30 s, what Whisper was trained on


def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-style mel filterbank, [n_mels, n_fft // 2 + 1] (librosa's defaults, as Whisper used)."""
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    log_step = np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(log_step * (mels[log_region] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs.reshape(-1, 1) - fft_freqs.reshape(1, -1)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2 : n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


class LogMel:
    """Holds the filterbank and window; call it on float32 mono 16 kHz audio."""

    def __init__(self) -> None:
        self._filters = mel_filters()
        self._window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)

    def __call__(self, samples: np.ndarray, context_frames: int | None = None, pad_audio: bool = False) -> np.ndarray:
        """[80, frames] float32; `context_frames` pads or cuts to that many frames: with zero
        features (faster-whisper's way), or with `pad_audio`, by appending digital silence to
        the audio before the transform (openai-whisper's way)."""
        audio = np.asarray(samples, dtype=np.float32)
        if pad_audio and context_frames is not None and len(audio) < context_frames * HOP:
            audio = np.pad(audio, (0, context_frames * HOP - len(audio)))
        audio = np.pad(audio, (0, HOP))  # faster-whisper's padding
        audio = np.pad(audio, (N_FFT // 2, N_FFT // 2), mode="reflect" if len(audio) > N_FFT // 2 else "constant")
        n_frames = 1 + (len(audio) - N_FFT) // HOP
        frames = np.lib.stride_tricks.as_strided(
            audio, (n_frames, N_FFT), (HOP * audio.strides[0], audio.strides[0]), writeable=False
        )
        spectrum = np.fft.rfft(frames * self._window, n=N_FFT, axis=-1).astype(np.complex64)
        power = (np.abs(spectrum[:-1]) ** 2).T  # drop the last frame, as Whisper does
        # einsum, not `@`: numpy's BLAS wakes its thread pool for this small product, and on a busy
        # 2-core machine that took 10-15 ms instead of 0.5 (and left threads spinning against onnxruntime).
        log_spec = np.log10(np.maximum(np.einsum("mf,ft->mt", self._filters, power), 1e-10))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        features = ((log_spec + 4.0) / 4.0).astype(np.float32)
        features = features[:, :-1]  # faster-whisper's content frames exclude its padding frame
        if context_frames is None:
            return features
        if features.shape[1] >= context_frames:
            return np.ascontiguousarray(features[:, :context_frames])
        return np.pad(features, ((0, 0), (0, context_frames - features.shape[1])))
