"""Audio sources and sinks. Every stage after a source sees 16 kHz mono int16 (or float32).

    wavio.py    read request files, resample, write WAVs
    stream.py   the FrameSource / AudioSink interfaces of the live loop
    files.py    a recording as the microphone, WAV files as the speaker
    devices.py  microphone and speaker through sounddevice (the `audio` extra)
    network.py  the interface the firmware bridge plugs satellites into
    output.py   continuous PCM outputs for music: the speaker, a paced WAV, memory
    player.py   the music player (PyAV): files and radio streams, volume and ducking
"""
