"""The firmware bridge: satellites and Home Assistant speak to the runtime over Wyoming and UART.

    wyoming/          our Wyoming protocol: framing (framing.py), typed events (events.py)
    server.py         `edge bridge serve`: the Wyoming server, dialled satellites, zeroconf
    connection.py     one connection: asr / tts / intent / handle requests, or a satellite
    satellites.py     satellite sessions (rooms, resume) over the shared pipeline (engine.py)
    arbitration.py    one answer per room when several satellites hear the same request
    uart*.py          the UART link (UART_SPEC.md) and a serial board as a satellite
    simulator.py      a satellite that streams a WAV (`edge bridge satellite`)

`edge/` imports none of this except through `edge.cli.main.SUBCOMMAND_MODULES`.
"""
