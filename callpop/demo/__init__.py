"""`callpop demo`: callpop with a virtual PBX, a test phone page and demo data.

The parts: `live_agi` (Asterisk's side of a FastAGI call, keys from a browser),
`queueing` (a caller in an Asterisk queue, on the AMI simulator), `phones` (the agents'
phones), `pbx` (the calls from dial to hang-up), `phone` and `softphone` (the web pages
and their websockets), `compose` (everything wired around `callpop serve`'s runtime).
"""
