"""The runtime: the one `Turn` every front end calls, the cascade around the intent model, the live
loop (with playback.py: music ducked under replies, "stop" without the wake word), the text chat,
the alert scheduler and the demo."""
