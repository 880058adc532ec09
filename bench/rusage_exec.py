"""Run a program as a child and write its own CPU time and maximum RSS to a file:

    python -I -S bench/rusage_exec.py OUT PROGRAM [ARG...]

Why not read them when the benchmark reaps the program: Linux keeps a process's maximum
RSS across `execve`, and a process forked from the benchmark starts with the
benchmark's (~150 MB). Forked from this small process instead, the program's figure is
its own (at least this process's few MB, below any Python program's). The program gets
this process's stdin and stdout (this process lets go of both, so the program's closing
its stdout is seen) and SIGHUP is passed on to it (Asterisk's hang-up and end of AGI).
OUT gets a line `CPU_SECONDS MAX_RSS_KIB`; the exit status is the program's.
"""

import os
import signal
import sys


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)

    def pass_on(signum: int, frame: object) -> None:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            pass  # it has just ended

    signal.signal(signal.SIGHUP, pass_on)
    _, status, usage = os.wait4(pid, 0)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the benchmark's, for the ended program
    with open(out, "a", encoding="ascii") as figures:
        figures.write(f"{usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
