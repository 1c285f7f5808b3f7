"""The four TUF roles' signing keys: Ed25519, one PEM file per role (mode 0600) in a directory of its own.

The private keys never go into the repository directory (`publisher.publish` refuses a key directory inside it):
the repository is copied to web servers and removable media, the keys stay with the publisher (root's ideally
offline). A key's id is derived from its public key (securesystemslib's default), so the files are all there is.
"""

from __future__ import annotations

import os
from pathlib import Path

from hashwarden.errors import DistributionError

ROLES = ("root", "targets", "snapshot", "timestamp")


def key_file(keys_dir: Path, role: str) -> Path:
    """Where `role`'s private key lives."""
    return Path(keys_dir) / f"{role}.pem"


def keygen(keys_dir: str | os.PathLike[str], roles: tuple[str, ...] = ROLES) -> dict[str, str]:
    """Make a new Ed25519 key for each of `roles` in `keys_dir` (created 0700; files 0600); {role: key id}.

    Raises:
        DistributionError: a key file exists already (a key is never overwritten: rotate it instead).
    """
    from securesystemslib.signer import CryptoSigner

    directory = Path(keys_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for role in roles:
        if key_file(directory, role).exists():
            raise DistributionError(f"{key_file(directory, role)} exists: keys are never overwritten "
                                    "(`hashwarden publish rotate` replaces one)")
    made = {}
    for role in roles:
        signer = CryptoSigner.generate_ed25519()
        _write_private(key_file(directory, role), signer.private_bytes)
        made[role] = signer.public_key.keyid
    return made


def _write_private(path: Path, pem: bytes) -> None:
    """Write a private key readable by its owner alone, created so (never briefly world-readable)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as fp:
        fp.write(pem)


def load_signer(keys_dir: str | os.PathLike[str], role: str):  # noqa: ANN201 - securesystemslib CryptoSigner
    """`role`'s signer from its key file.

    Raises:
        DistributionError: the file is missing, unreadable or not an Ed25519 private key in PEM.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    path = key_file(Path(keys_dir), role)
    try:
        key = load_pem_private_key(path.read_bytes(), None)
    except OSError as exc:
        raise DistributionError(f"cannot read the {role} key {path} ({exc.strerror or exc}); make keys with "
                                "`hashwarden publish keygen`") from exc
    except (ValueError, TypeError) as exc:
        raise DistributionError(f"{path} is not a PEM private key without a passphrase") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise DistributionError(f"{path} is not an Ed25519 key")
    return CryptoSigner(key)


def replace_key(keys_dir: str | os.PathLike[str], role: str) -> Path:
    """Move `role`'s key aside (`<role>.pem.<n>.old`, kept: the old root key must still sign the new root) and make
    a new one; return where the old one went."""
    directory = Path(keys_dir)
    current = key_file(directory, role)
    number = 1
    while (aside := directory / f"{role}.pem.{number}.old").exists():
        number += 1
    os.replace(current, aside)
    keygen(directory, (role,))
    return aside
