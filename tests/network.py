"""A second machine for the tests: a network namespace joined to this one by a veth pair on a private test subnet.

`second_machine()` makes the namespace and the link (10.213.X.1 here, 10.213.X.2 there, a /30 that
nothing else uses) and always removes them. A server listens on `host_address`; `command` runs a
program inside the namespace as this user. Making a namespace needs root, or sudo without a password
(CI runners); without either, the fallback is a server on a second loopback address (127.0.0.2) and
programs run here (`isolated` is False, and the tests say so). No traffic goes anywhere else.
"""

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    host_address: str  # this machine's side of the link: where servers listen for the other machine
    namespace: str | None  # None: the fallback, no namespace
    sudo: tuple[str, ...]  # what runs `ip` as root

    @property
    def isolated(self) -> bool:
        return self.namespace is not None

    def command(self, args: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str] | None]:
        """`args` as a command run in the namespace with exactly `env`, as this user; and the environment to
        start it with."""
        if not self.isolated:
            return args, env
        enter = [*self.sudo, "ip", "netns", "exec", self.namespace]
        if not self.sudo:  # root: `ip netns exec` keeps the environment
            return [*enter, *args], env
        user = [f"--reuid={os.getuid()}", f"--regid={os.getgid()}", "--init-groups"]
        return [*enter, "setpriv", *user, "env", "-i", *(f"{k}={v}" for k, v in env.items()), *args], None

    def run(self, args: list[str], cwd, env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess:
        command, environment = self.command(args, env)
        return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def _as_root() -> tuple[str, ...] | None:
    """What makes a command run as root here: nothing (we are), sudo -n, or None (neither)."""
    if os.geteuid() == 0:
        return ()
    if subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ("sudo", "-n")
    return None


@contextlib.contextmanager
def second_machine() -> Iterator[Machine]:
    """A namespace and a veth pair on 10.213.X.0/30, removed at the end even when a test fails."""
    sudo = _as_root()
    tag = os.getpid() % 100_000
    namespace, here, there = f"mlflowtest{tag}", f"mth{tag}", f"mtn{tag}"
    subnet = f"10.213.{tag % 256}"
    steps = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", here, "type", "veth", "peer", "name", there],
        ["ip", "link", "set", there, "netns", namespace],
        ["ip", "addr", "add", f"{subnet}.1/30", "dev", here],
        ["ip", "link", "set", here, "up"],
        ["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{subnet}.2/30", "dev", there],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", there, "up"],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
    ]
    try:
        made = sudo is not None and all(
            subprocess.run([*sudo, *step], capture_output=True).returncode == 0 for step in steps
        )
        if made:
            yield Machine(f"{subnet}.1", namespace, sudo)
        else:
            print("no network namespace here (needs root or sudo -n): the server listens on 127.0.0.2 instead")
            yield Machine("127.0.0.2", None, ())
    finally:
        if sudo is not None:
            subprocess.run([*sudo, "ip", "netns", "del", namespace], capture_output=True)  # takes its veth end along
            subprocess.run([*sudo, "ip", "link", "del", here], capture_output=True)
