"""The `edge` command: one parser with grouped subcommands (edge/cli/main.py). Nothing imports this
package; it imports everything it wires together."""
