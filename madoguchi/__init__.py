"""The `madoguchi` command: wires the commands of edge/, sync/ and tui/ together."""
