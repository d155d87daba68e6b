"""`madoguchi cache stats`: what the local cache holds and how old it is."""

from __future__ import annotations

import argparse

from madoguchi.cli.base import EXIT_OK, Subcommands, command, data_config, emit, group, open_store
from madoguchi.edge import store
from madoguchi.edge.config import JST


def register(sub: Subcommands) -> None:
    cache = group(sub, "cache", "the local cache")
    command(cache, "stats", cmd_cache_stats, "what the local cache holds and how old it is")


def cmd_cache_stats(args: argparse.Namespace) -> int:
    config = data_config(args)
    conn = open_store(config)
    now = store.utcnow()
    stats = store.cache_stats(conn, config.data_dir, now.astimezone(JST).date())
    sync = stats.sync
    emit(args, {
        "data_dir": str(config.data_dir),
        "records": stats.records, "valid_today": stats.valid_today, "patients": stats.patients,
        "insurers": stats.insurers, "revoked_certificates": stats.revoked_certificates,
        "audit_entries": stats.audit_entries, "outbox_pending": stats.outbox_pending,
        "database_bytes": stats.database_bytes,
        "data_version": sync.data_version if sync else None,
        "generated_at": sync.generated_at.astimezone(JST).isoformat() if sync else None,
        "applied_at": sync.applied_at.astimezone(JST).isoformat() if sync else None,
        "data_age_seconds": int((now - sync.generated_at).total_seconds()) if sync else None,
    })
    return EXIT_OK
