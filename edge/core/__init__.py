"""The foundation every stage shares: settings, events, the turn trace, errors, stage protocols,
the SQLite opener and text helpers. Imports only the standard library and numpy."""
