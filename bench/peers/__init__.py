"""The servers the FastAGI benchmark compares callpop with, each run as its own process.

They send the transcript's commands (`bench.agi_transcript`): the same command stream
as callpop's, so the rows differ only by the server. Kept in bench/ only.
"""
