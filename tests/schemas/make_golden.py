"""Write golden wire fixtures for message types that have none. Never overwrites a fixture:
an existing file is a promise that those bytes decode forever."""

from __future__ import annotations

from pathlib import Path

from bus.codec import encode
from tests.schemas.examples import EXAMPLES

GOLDEN = Path(__file__).parent / "golden"


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, message in sorted(EXAMPLES.items()):
        path = GOLDEN / f"{name}.json"
        if not path.exists():
            path.write_bytes(encode(message) + b"\n")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
