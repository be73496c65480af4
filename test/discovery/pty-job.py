"""Runs one command line as a foreground job of an interactive bash in a pseudo-terminal, as a
user at a terminal would, and prints what the terminal showed. Job control is on there: bash
puts the job in a process group of its own and waits for it to stop as well as to exit.

Usage: pty-job.py [--nested] COMMAND_LINE
--nested: the job of a second interactive bash started in the first, which does not lead the
session (the first does): its job is told apart by its process group alone.
Exits 0 when the command ran to its end (its `echo JOB-EXIT=$?` was printed), 1 otherwise."""
import os
import pty
import select
import sys
import time

pid, fd = pty.fork()
if pid == 0:
    os.execvp('bash', ['bash', '--norc', '--noprofile', '-i'])

out = b''


def read_for(seconds, until=None):
    global out
    end = time.time() + seconds
    while time.time() < end:
        if until is not None and until in out:
            return
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return


nested = sys.argv[1] == '--nested'
command = sys.argv[-1]
read_for(0.5)  # the prompt
if nested:
    os.write(fd, b'bash --norc --noprofile -i\n')
    read_for(0.5)
os.write(fd, command.encode() + b'; echo JOB-EXIT=$?\n')
read_for(30, b'JOB-EXIT=')
read_for(0.2)
os.write(fd, b'exit\n')
read_for(0.3)
if nested:
    os.write(fd, b'exit\n')
    read_for(0.3)
try:
    os.kill(pid, 9)
except ProcessLookupError:
    pass
text = out.decode(errors='replace')
print(text)
sys.exit(0 if 'JOB-EXIT=0' in text.replace('echo JOB-EXIT=$?', '') else 1)
