"""The runtime: the one `Turn` every front end calls, the cascade around the intent model, the live
loop, the text chat, the alert scheduler and the demo."""
