"""Which turns leave the device and what is kept about them: the router, the escalator (cloud,
else offline, else an apology), the per-session history sent as context, redaction, the privacy
ledger and the training flywheel."""
