"""Screen casting: rich answers (cards) on the nearest screen, found with zeroconf.

The speaker says the short answer and casts the full card. The pieces:

    card.py        limits and the sanitiser (run on both sides: all card text is untrusted)
    render.py      a card as the page's view model (markdown as a tree of allowed elements)
    protocol.py    service type, TXT records, routes and WebSocket messages (version 1)
    pairing.py     pairing codes and the tokens both sides keep under cast.state_dir
    companion.py   `edge cast companion`: the screen's web app (page, API, CSP), with hub.py and web/
    advertise.py   the companion's mDNS advertisement (_edgecast._tcp.local.)
    discovery.py   the speaker's live screen registry (mDNS + liveness probes)
    choose.py      which screen: by name or room from a hint, last used, own room
    client.py      delivery to a companion over a WebSocket with acknowledgement; pairing
    chromecast.py  Chromecasts (_googlecast._tcp) through pychromecast and DashCast; relay.py
    caster.py      `CardCaster`, the one object the turn loop uses (see its docstring)
    cli.py         `edge cast companion`, `edge cast screens`, `edge cast pair`, `edge cast send`

For the turn loop:

    from edge.cast.caster import CardCaster
    caster = CardCaster(settings.cast).start()        # once, at start-up
    ticket = caster.cast(card, hint=None)             # right after the skill reply, before TTS
    trace["cast"] = ticket.outcome(timeout=0.0)       # after the reply audio: where the card went
    caster.close()                                    # at shutdown

Everything here needs the `cast` extra (zeroconf, aiohttp, markdown-it-py, pychromecast),
imported lazily with an install hint.
"""
