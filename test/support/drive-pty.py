"""Drives a command through a pseudo-terminal, as a person at a keyboard would.

Reads {"argv": [...], "env": {...}, "steps": [{"expect": "...", "send": "..."}], "timeout": s} on stdin: for each
step, waits until `expect` appears in the output written since the previous step, then types `send`. Prints
{"output": "...", "exit": n} when the command has exited (or {"error": ...} when an expectation times out).
"""
import json
import os
import pty
import select
import sys
import time

spec = json.load(sys.stdin)
pid, fd = pty.fork()
if pid == 0:
    os.environ.update(spec["env"])
    os.execvp(spec["argv"][0], spec["argv"])

output = b""


def read_some(deadline):
    global output
    ready, _, _ = select.select([fd], [], [], max(0, min(0.5, deadline - time.time())))
    if ready:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        output += chunk
    return True


def fail(message):
    print(json.dumps({"error": message, "output": output.decode("utf-8", "replace")}))
    os.kill(pid, 9)
    sys.exit(0)


mark = 0
for step in spec["steps"]:
    deadline = time.time() + spec["timeout"]
    wanted = step["expect"].encode()
    while wanted not in output[mark:]:
        if time.time() > deadline or not read_some(deadline):
            fail("timed out waiting for %r" % step["expect"])
    mark = output.index(wanted, mark) + len(wanted)
    if "send" in step:
        os.write(fd, step["send"].encode())

deadline = time.time() + spec["timeout"]
while time.time() < deadline and read_some(deadline):
    pass
_, status = os.waitpid(pid, 0)
print(json.dumps({"output": output.decode("utf-8", "replace"), "exit": os.waitstatus_to_exitcode(status)}))
