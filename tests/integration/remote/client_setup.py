"""Run in the client's environment: create the test secrets, then register stack files.

    python -m tests.integration.remote.client_setup STACK_FILE...

The ZenML client of the pytest process is bound to the session's local store,
so everything that talks to the test ZenML server runs in a subprocess like
this one. Registration goes through ``stacks.registration.register_stack``, the
project's own code, with the secrets created first because registration
refuses a stack whose secrets are missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stacks.registration import load_stack_spec, register_stack
from tests.integration.remote.local_parts import TEST_SECRETS


def create_secrets() -> None:
    """Create every test secret that does not exist yet."""
    from zenml.client import Client

    client = Client()
    existing = {secret.name for secret in client.list_secrets(size=100).items}
    for name, values in TEST_SECRETS.items():
        if name not in existing:
            client.create_secret(name=name, values=values)


def main(paths: list[str]) -> int:
    """Create the secrets, register each file, print one line per stack."""
    create_secrets()
    for path in paths:
        result = register_stack(load_stack_spec(Path(path)), Path(path))
        print(f"{result.stack}: created components {result.created_components}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
