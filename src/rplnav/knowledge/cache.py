"""A per-user cache of the loaded, checked knowledge base, so `rplnav assess` need not parse it every time.

Why: parsing the ~40 YAML files, validating ~1,400 entries and cross-checking every reference takes about
0.19 s of a ~0.6 s command-line run (2026-12-03, 2-core development machine); unpickling the same checked
object takes about 0.012 s.

The cache can never serve stale content: its key is derived, at every start, from the bytes of every YAML
file (the same SHA-256 the knowledge version is), the bytes of every Python file of the package (the code
that validates, checks and defines the pickled classes), and the Python and pydantic versions. Any change
gives a new key, hence a fresh parse. Only a base that loaded without a single problem is stored. If the
cache folder cannot be written (read-only install, no home folder) the base is parsed as before; an
unreadable or damaged cache file is ignored and replaced. Folder: ``RPLNAV_CACHE_DIR``, else
``$XDG_CACHE_HOME/rplnav``, else ``~/.cache/rplnav``; ``RPLNAV_CACHE_DIR=off`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rplnav.knowledge.load import Knowledge

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def yaml_fingerprint(directory: Path) -> str:
    """SHA-256 over every YAML file's path and bytes: the knowledge version, computed without parsing."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.yaml")):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def cache_key(directory: Path) -> tuple[str, str]:
    """(knowledge version, cache key): the key also covers the package's code and the Python/pydantic versions."""
    import pydantic

    version = yaml_fingerprint(directory)
    digest = hashlib.sha256(f"{version}\0{sys.version}\0{pydantic.VERSION}\0{pickle.HIGHEST_PROTOCOL}\0".encode())
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return version, digest.hexdigest()


def cache_dir() -> Path | None:
    """Where cached bases live (None: caching is off)."""
    env = os.environ.get("RPLNAV_CACHE_DIR")
    if env:
        return None if env.lower() in ("off", "0", "no", "false") else Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "rplnav"


def load_cached(directory: Path) -> Knowledge:
    """The checked base of ``directory``, from the cache when its key matches, else parsed (and stored)."""
    from rplnav.knowledge.load import Knowledge, load

    folder = cache_dir()
    if folder is None:
        return load(directory, strict=True)[0]
    version, key = cache_key(directory)
    path = folder / f"knowledge-{key}.pickle"
    try:
        if _trusted(path):
            with path.open("rb") as f:
                kb = pickle.load(f)  # noqa: S301 - a file this user wrote, named by the hash of its own inputs
            if isinstance(kb, Knowledge) and kb.version == version:
                return kb
    except Exception:  # noqa: BLE001 - missing, unreadable or damaged: parse instead
        pass
    kb = load(directory, strict=True)[0]  # raises KnowledgeError on any problem: nothing is stored then
    if kb.version == version:  # the files did not change while they were read
        _store(folder, path, kb)
    return kb


def _trusted(path: Path) -> bool:
    """Unpickling runs code, so only a file this user owns and no one else can write is read (a cache folder
    shared through RPLNAV_CACHE_DIR could otherwise hand her someone else's file); any other is parsed around."""
    st = path.stat()
    getuid = getattr(os, "getuid", None)
    return (getuid is None or st.st_uid == getuid()) and not st.st_mode & 0o022


def _store(folder: Path, path: Path, kb: Knowledge) -> None:
    """Write atomically (a reader sees the old file or the whole new one); give up quietly if not writable."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _prune(folder)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".knowledge-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(kb, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


def _prune(folder: Path, keep: int = 4) -> None:
    """Drop all but the newest few files: a key of older code or content is rarely read again."""
    files = sorted(folder.glob("knowledge-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep - 1:]:
        old.unlink(missing_ok=True)
