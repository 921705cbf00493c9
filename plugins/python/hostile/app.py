"""A filter that misbehaves on purpose, for the sandbox tests: the Python
counterpart of plugins/hostile. Config picks the misdeed:

    { raise_above = 100.0 }   raises ValueError on readings above it
    { loop = true }           never returns
    { allocate = true }       allocates without end
    { open = "/etc/passwd" }  tries to read a file (and keeps rows it could)
    { connect = "127.0.0.1:80" }  tries to open a socket (likewise)
    { list = "/" }            lists a directory with `os` (and reads the environment)
"""

from dataclasses import dataclass

from weir_plugin import Filter, export


@dataclass
class Reading:
    temperature: float


class Hostile(Filter):
    row = Reading

    def __init__(self, config):
        self.config = config

    def keep(self, row):
        config = self.config
        if "raise_above" in config and row.temperature > config["raise_above"]:
            raise ValueError(f"temperature {row.temperature} is too hot to handle")
        if config.get("loop"):
            while True:
                pass
        if config.get("allocate"):
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if "open" in config:
            with open(config["open"]) as f:
                return bool(f.read(1))
        if "list" in config:
            import os

            # No directory is preopened: even "/" is not there.
            return bool(os.listdir(config["list"])) and bool(os.environ)
        if "connect" in config:
            import socket

            host, port = config["connect"].rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=1).close()
        return True


WitWorld = export(Hostile, name="hostile-py", version="0.1.0")
