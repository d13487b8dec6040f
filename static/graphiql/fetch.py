"""Re-fetch GraphiQL's vendored assets from the npm registry and verify them; or check them.

    uv run python static/graphiql/fetch.py          # fetch (needs npm) into vendor/, verified
    uv run python static/graphiql/fetch.py --check  # verify the files in vendor/ (no network)

`assets.json` is the record: each npm package at its exact version, its tarball's integrity as
the registry publishes it (`npm pack` checks it too), and for each file taken from it the sha256
and the SRI hash (sha384) the page puts in its `integrity` attributes. The versions are the ones
strawberry-graphql's own GraphiQL page loads from a CDN, and the files' sha384 hashes are the
very ones it pins there. To move to other versions, edit the versions and files in assets.json,
run this with `--record` (it writes the hashes of what it fetched), review, and commit.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "assets.json"
VENDOR = HERE / "vendor"


def digests(data: bytes) -> dict[str, str]:
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "integrity": "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode(),
    }


def load() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    return manifest


def check(manifest: dict[str, Any]) -> list[str]:
    """What is wrong with the files in vendor/ (missing, or not what assets.json records)."""
    problems = []
    for spec, package in manifest["packages"].items():
        for path, recorded in package["files"].items():
            file = VENDOR / spec / path
            if not file.is_file():
                problems.append(f"{spec}/{path}: missing")
            elif digests(file.read_bytes()) != recorded:
                problems.append(f"{spec}/{path}: its hashes differ from assets.json")
    return problems


def fetch(manifest: dict[str, Any], *, record: bool) -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("error: npm is needed to fetch the packages (apt-get install -y npm)")
    with tempfile.TemporaryDirectory() as work:
        for spec, package in manifest["packages"].items():
            done = subprocess.run(
                [npm, "pack", spec, "--json", "--pack-destination", work], capture_output=True, text=True, check=True
            )
            (packed,) = json.loads(done.stdout)
            if not record and packed["integrity"] != package["tarball"]:
                sys.exit(f"error: {spec}: the registry's tarball is {packed['integrity']}, not {package['tarball']}")
            package["tarball"] = packed["integrity"]
            with tarfile.open(Path(work) / packed["filename"]) as tar:
                for path, recorded in package["files"].items():
                    member = tar.extractfile(f"package/{path}")
                    if member is None:
                        sys.exit(f"error: {spec} has no file {path}")
                    data = member.read()
                    if not record and digests(data) != recorded:
                        sys.exit(f"error: {spec}/{path}: its hashes differ from assets.json")
                    package["files"][path] = digests(data)
                    target = VENDOR / spec / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
            print(f"{spec}: {len(package['files'])} files verified")
    if record:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify vendor/ against assets.json, offline")
    parser.add_argument("--record", action="store_true", help="fetch and write the hashes into assets.json")
    args = parser.parse_args()
    manifest = load()
    if not args.check:
        fetch(manifest, record=args.record)
    problems = check(manifest)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("vendor/ matches assets.json")


if __name__ == "__main__":
    main()
