"""The same IVR as a classic AGI script on pyst2, the way most Asterisk sites write
one: Asterisk spawns it per call (`AGI(/path/script)`), pyst2 reads the environment
from stdin, each command goes out on stdout and its answer comes back on stdin.

    AGI(bench/peers/pyst2_ivr.py,TRANSCRIPT.json)

It imports only pyst2 and the standard library, as such a script would: the cost of
the process (an interpreter started per call) is what this row measures.
"""

import json
import sys

from asterisk.agi import AGI, AGIException


def main() -> None:
    agi = AGI()  # reads the agi_* environment block
    with open(sys.argv[1], encoding="utf-8") as source:
        steps = json.load(source)["steps"]
    index = 0
    try:
        while index < len(steps):
            result = agi.execute(steps[index]["command"])
            key = steps[index]["menu_key"]
            if key is None:
                index += 1
                continue
            value = result["result"][0]
            # GET DATA answers with the digits, STREAM FILE with the key's ASCII code.
            if not steps[index]["command"].startswith("GET DATA"):
                value = chr(int(value)) if value.isdigit() and int(value) > 0 else ""
            if value != key:
                agi.execute('SET VARIABLE "CALLPOP_OUTCOME" "queue"')
                agi.execute('SET VARIABLE "CALLPOP_QUEUE" "operator"')
                return
            index += 1
    except AGIException:
        return


if __name__ == "__main__":
    main()
