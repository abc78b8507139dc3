"""Database backups and restore drills.

`create_backup()` writes a dump of the database (pg_dump's custom format on
PostgreSQL, SQLite's online backup API otherwise) into settings.BACKUP_DIR with
a JSON manifest beside it: checksum, size and the row count of every table at
the time of the dump. `verify_backup()` is a real restore drill: it checks the
checksum, restores the dump into a scratch database and compares the row counts
with the manifest. Old backups beyond settings.BACKUP_KEEP are pruned.

Card media (uploaded images and sounds under MEDIA_ROOT) are data too: each
backup also writes `<name>.media.tar.gz` with its checksum, file count and a
digest of every file's path and content in the manifest; the drill extracts it
into a scratch folder and compares.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from lms import audit

logger = logging.getLogger(__name__)


class BackupError(Exception):
    pass


@dataclass
class BackupManifest:
    file: str
    created_at: str
    vendor: str
    size_bytes: int
    sha256: str
    duration_ms: int
    tables: dict[str, int] = field(default_factory=dict)
    # The media archive (empty in backups taken before media were included).
    media_file: str = ""
    media_sha256: str = ""
    media_size_bytes: int = 0
    media_files: int = 0
    media_digest: str = ""

    @property
    def path(self) -> Path:
        return backup_dir() / self.file

    @property
    def media_path(self) -> Path | None:
        return backup_dir() / self.media_file if self.media_file else None

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def age_hours(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return (now - self.created).total_seconds() / 3600


@dataclass
class VerifyResult:
    ok: bool
    file: str
    checksum_ok: bool
    restored: bool
    tables_checked: int = 0
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    message: str = ""
    duration_ms: int = 0
    media_checked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def backup_dir() -> Path:
    path = Path(settings.BACKUP_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _table_counts() -> dict[str, int]:
    tables = sorted(connection.introspection.table_names(include_views=False))
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608 - introspected names
            counts[table] = cursor.fetchone()[0]
    return counts


def _pg_env(db: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return env


def _pg_args(db: dict[str, Any]) -> list[str]:
    args = []
    if db.get("HOST"):
        args += ["-h", str(db["HOST"])]
    if db.get("PORT"):
        args += ["-p", str(db["PORT"])]
    if db.get("USER"):
        args += ["-U", str(db["USER"])]
    return args


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {result.stderr.strip()[:500]}")


def _media_files(root: Path) -> list[Path]:
    """Regular files under root (symlinks and the like are not media)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def media_digest(root: Path) -> tuple[int, str]:
    """(file count, SHA-256 over every file's relative path and content hash)."""
    digest = hashlib.sha256()
    files = _media_files(root)
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + _sha256(path).encode() + b"\n")
    return len(files), digest.hexdigest()


def _archive_media(target: Path) -> tuple[int, str]:
    root = Path(settings.MEDIA_ROOT)
    with tarfile.open(target, "w:gz") as archive:
        for path in _media_files(root):
            archive.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return media_digest(root)


def create_backup() -> BackupManifest:
    started = time.monotonic()
    stamp = datetime.now(UTC)
    vendor = connection.vendor
    db = connection.settings_dict
    # Counts are taken just before the dump; a busy site may add rows in
    # between, which the drill reports as a (small) mismatch rather than hides.
    tables = _table_counts()
    name = f"lms-{stamp:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    if vendor == "postgresql":
        target = backup_dir() / f"{name}.dump"
        if shutil.which("pg_dump") is None:
            raise BackupError("pg_dump is not installed")
        _run(
            ["pg_dump", "--format=custom", "--no-owner", "--no-acl", *_pg_args(db), "-f", str(target), db["NAME"]],
            _pg_env(db),
        )
    elif vendor == "sqlite":
        target = backup_dir() / f"{name}.sqlite3.gz"
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "copy.sqlite3"
            source = sqlite3.connect(db["NAME"], uri=str(db["NAME"]).startswith("file:"))
            dest = sqlite3.connect(raw)
            try:
                source.backup(dest)
            finally:
                dest.close()
                source.close()
            with raw.open("rb") as src, gzip.open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    else:
        raise BackupError(f"backups are not supported on {vendor}")
    media = backup_dir() / f"{name}.media.tar.gz"
    media_count, digest = _archive_media(media)
    manifest = BackupManifest(
        file=target.name,
        created_at=stamp.isoformat(),
        vendor=vendor,
        size_bytes=target.stat().st_size,
        sha256=_sha256(target),
        duration_ms=int((time.monotonic() - started) * 1000),
        tables=tables,
        media_file=media.name,
        media_sha256=_sha256(media),
        media_size_bytes=media.stat().st_size,
        media_files=media_count,
        media_digest=digest,
    )
    (backup_dir() / f"{target.name}.json").write_text(json.dumps(asdict(manifest), indent=2))
    prune_backups()
    audit.record("backup.create", description=f"Backup {target.name}", file=target.name, bytes=manifest.size_bytes)
    logger.info("backup written: %s (%d bytes)", target.name, manifest.size_bytes)
    return manifest


def list_backups() -> list[BackupManifest]:
    manifests = []
    for path in backup_dir().glob("*.json"):
        try:
            manifests.append(BackupManifest(**json.loads(path.read_text())))
        except (ValueError, TypeError) as exc:
            logger.warning("unreadable backup manifest %s: %s", path.name, exc)
    return sorted(manifests, key=lambda m: m.created_at, reverse=True)


def latest_backup() -> BackupManifest | None:
    backups = list_backups()
    return backups[0] if backups else None


def prune_backups(keep: int | None = None) -> list[str]:
    keep = settings.BACKUP_KEEP if keep is None else keep
    removed = []
    for manifest in list_backups()[keep:]:
        manifest.path.unlink(missing_ok=True)
        if manifest.media_path is not None:
            manifest.media_path.unlink(missing_ok=True)
        (backup_dir() / f"{manifest.file}.json").unlink(missing_ok=True)
        removed.append(manifest.file)
    return removed


def _restored_counts_sqlite(path: Path, tables: list[str]) -> tuple[dict[str, int], str]:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "restore.sqlite3"
        with gzip.open(path, "rb") as src, raw.open("wb") as out:
            shutil.copyfileobj(src, out)
        conn = sqlite3.connect(raw)
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608
        finally:
            conn.close()
    return counts, integrity


def _restored_counts_postgres(path: Path, tables: list[str]) -> dict[str, int]:
    import psycopg
    from psycopg import sql

    db = connection.settings_dict
    scratch = f"{db['NAME']}_restore_drill_{uuid.uuid4().hex[:8]}"
    conninfo = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        _run(
            ["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", *_pg_args(db), "-d", scratch, str(path)],
            _pg_env(db),
        )
        with psycopg.connect(dbname=scratch, **conninfo) as restored:
            return {
                t: restored.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                for t in tables
            }
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))


def _verify_media(manifest: BackupManifest) -> tuple[bool, str, int]:
    """(ok, message, files restored) for the backup's media archive."""
    path = manifest.media_path
    if path is None:
        return True, "", 0  # a backup from before media were archived
    if not path.exists():
        return False, "The media archive is missing.", 0
    if _sha256(path) != manifest.media_sha256:
        return False, "Checksum mismatch: the media archive is corrupt.", 0
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive.getmembers():
                # Only plain files inside the folder: an archive cannot write elsewhere.
                target = (Path(tmp) / member.name).resolve()
                if not member.isfile() or not target.is_relative_to(Path(tmp).resolve()):
                    return False, f"The media archive holds an unexpected entry: {member.name[:100]}", 0
            archive.extractall(tmp)  # noqa: S202 - every member checked above
        count, digest = media_digest(Path(tmp))
    if (count, digest) != (manifest.media_files, manifest.media_digest):
        return False, f"Media differ from the manifest: {count} files restored, {manifest.media_files} expected.", count
    return True, "", count


def verify_backup(manifest: BackupManifest | None = None) -> VerifyResult:
    """Checksum, then a restore into a scratch database, then row counts."""
    started = time.monotonic()
    manifest = manifest or latest_backup()
    if manifest is None:
        return VerifyResult(False, "", False, False, message="No backup exists yet: run `manage.py backup`.")
    if not manifest.path.exists():
        return VerifyResult(False, manifest.file, False, False, message="The backup file is missing.")
    if _sha256(manifest.path) != manifest.sha256:
        return VerifyResult(
            False, manifest.file, False, False, message="Checksum mismatch: the backup file is corrupt."
        )
    tables = sorted(manifest.tables)
    try:
        if manifest.vendor == "sqlite":
            counts, integrity = _restored_counts_sqlite(manifest.path, tables)
            if integrity != "ok":
                return VerifyResult(False, manifest.file, True, True, message=f"integrity_check: {integrity}")
        elif manifest.vendor == "postgresql":
            counts = _restored_counts_postgres(manifest.path, tables)
        else:
            raise BackupError(f"cannot restore a {manifest.vendor} backup")
    except (BackupError, OSError, sqlite3.Error, gzip.BadGzipFile) as exc:
        return VerifyResult(False, manifest.file, True, False, message=f"Restore failed: {exc}")
    except Exception as exc:
        return VerifyResult(False, manifest.file, True, False, message=f"Restore failed: {type(exc).__name__}: {exc}")
    mismatches = {t: (manifest.tables[t], counts.get(t, -1)) for t in tables if counts.get(t) != manifest.tables[t]}
    try:
        media_ok, media_message, media_checked = _verify_media(manifest)
    except (OSError, tarfile.TarError) as exc:
        media_ok, media_message, media_checked = False, f"Media restore failed: {exc}", 0
    message = "Restore drill passed." if not mismatches else f"{len(mismatches)} tables differ from the manifest."
    if not media_ok:
        message = media_message if not mismatches else f"{message} {media_message}"
    elif not manifest.media_file:
        message += " (No media archive in this backup.)"
    return VerifyResult(
        ok=not mismatches and media_ok,
        file=manifest.file,
        checksum_ok=True,
        restored=True,
        tables_checked=len(tables),
        mismatches=mismatches,
        message=message,
        duration_ms=int((time.monotonic() - started) * 1000),
        media_checked=media_checked,
    )
