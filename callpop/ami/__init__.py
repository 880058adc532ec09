"""The Asterisk Manager Interface side of callpop: queue and dial events -> call events.

`codec` frames and parses the wire (sans-I/O), `client` keeps one logged-in connection
alive, `triggers` turns AMI events into call events (pure), `listener` wires the three
to the pop bus.
"""
