"""Where the keystore's master key comes from.

In order: the environment variable JUSTLINK_MASTER_KEY (base64 of 32 bytes), the key file named by
settings.master_key_file, or <data_dir>/master.key. The key file holds the base64 text and is
created by `justlink keys init` with mode 0600. Never commit it; the demo generates one at run time.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from consent.privacy.keys.base import KeystoreError

MASTER_KEY_ENV = "JUSTLINK_MASTER_KEY"
MASTER_KEY_BYTES = 32
DEFAULT_KEY_FILE = "master.key"

log = logging.getLogger("justlink.keys")


@dataclass(frozen=True, slots=True)
class MasterKey:
    key: bytes = field(repr=False)
    source: str  # "env JUSTLINK_MASTER_KEY" or "file <path>": safe to print


def master_key_path(data_dir: Path, master_key_file: Path | None = None) -> Path:
    return Path(master_key_file) if master_key_file else Path(data_dir) / DEFAULT_KEY_FILE


def decode_master_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeystoreError(f"master key from {source} is not valid base64") from None
    if len(key) != MASTER_KEY_BYTES:
        raise KeystoreError(f"master key from {source} must be {MASTER_KEY_BYTES} bytes, got {len(key)}")
    return key


def load_master_key(
    data_dir: Path, master_key_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> MasterKey:
    """The master key from the environment or the key file; KeystoreError if there is none."""
    env = os.environ if environ is None else environ
    if env.get(MASTER_KEY_ENV):
        return MasterKey(decode_master_key(env[MASTER_KEY_ENV], f"env {MASTER_KEY_ENV}"), f"env {MASTER_KEY_ENV}")
    path = master_key_path(data_dir, master_key_file)
    if not path.is_file():
        raise KeystoreError(
            f"no master key: set {MASTER_KEY_ENV} or create {path} with `justlink keys init`"
        )
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("master key file %s is readable by group or others (mode %o); chmod 600 it", path, mode & 0o777)
    return MasterKey(decode_master_key(path.read_text(encoding="ascii"), f"file {path}"), f"file {path}")


def generate_master_key_file(path: Path) -> MasterKey:
    """Write a new random master key to `path` (mode 0600); refuses to overwrite an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(MASTER_KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"master key file {path} already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    os.chmod(path, 0o600)  # in case the umask removed bits we asked for (it cannot add any)
    return MasterKey(key, f"file {path}")
