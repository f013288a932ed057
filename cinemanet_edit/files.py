"""Files written whole or not at all, file URLs read as paths, and content fingerprints: the one home of each."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``: readers never see a
    half-written file. The file gets the usual permissions (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_via(path: Path, write) -> None:
    """For writers that only write to a path of their own: ``write(temporary path)`` beside ``path``, then the
    rename; a failure leaves nothing behind."""
    path = Path(path)
    folder = path.parent if str(path.parent) else "."
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=folder)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bundle(path: Path, files: dict[str, bytes]) -> None:
    """Write a bundle folder (``.fcpxmld``) beside ``path`` and swap it in whole."""
    path = Path(path)
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else "."))
    try:
        for name, data in files.items():
            (folder / name).write_bytes(data)
        os.chmod(folder, 0o777 & ~_umask())
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(folder, path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def url_to_path(url: str) -> Path | None:
    """The local path a media URL names: ``file:`` URLs (percent-encoded, ``file://localhost/``, UNC hosts) and
    plain paths. None for any other scheme (``http:``, ``ftp:``): media are local files only."""
    if url.startswith("file:"):
        parsed = urlparse(url)
        local = unquote(parsed.path)
        if os.name == "nt":  # urllib.request only here: it costs a run 25 ms of imports (http, email, ssl)
            from urllib.request import url2pathname

            local = url2pathname(local)
        if parsed.netloc and parsed.netloc != "localhost":
            local = f"//{parsed.netloc}{local}"
        return Path(local)
    if "://" in url or (len(url) > 2 and ":" in url.split("/")[0] and not _windows_drive(url)):
        return None
    return Path(url)


def _windows_drive(url: str) -> bool:
    return len(url) >= 2 and url[1] == ":" and url[0].isalpha()


FINGERPRINT_CHUNK = 1 << 18
FINGERPRINT_CHUNKS = 4


def content_fingerprint(path: Path) -> str:
    """The file's size and four 256 KiB samples spread over it (the whole file when small), hashed: equal for
    copies under other names or dates, different once the content changes; reads about 1 MB of any file.
    The result cache and the archive catalogue both key media by it."""
    size = os.stat(path).st_size
    digest = hashlib.sha1(f"{size}:".encode())
    with open(path, "rb") as f:
        if size <= FINGERPRINT_CHUNK * FINGERPRINT_CHUNKS:
            digest.update(f.read())
        else:
            for i in range(FINGERPRINT_CHUNKS):
                f.seek((size - FINGERPRINT_CHUNK) * i // (FINGERPRINT_CHUNKS - 1))
                digest.update(f.read(FINGERPRINT_CHUNK))
    return digest.hexdigest()
