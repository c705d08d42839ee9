"""``peekr server``: run the collector; ``peekr server keys create|list|revoke``: manage its API keys."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Literal

import typer

__all__ = ["register"]

_DB_HELP = "SQLite file, or a postgresql:// DSN shared by several collector processes."
_DB_DEFAULT = "peekr-server.db"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=1)


def _server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise _fail("the collector needs its extra: pip install 'peekr-sdk[server]'") from None


def _check_text_search(db: str, mode: str) -> None:
    """Refuse before the workers start if collectors with the other --text-search run on ``db``."""
    import anyio

    from ..server._pg_text_search import check_before_start

    try:
        refusal = anyio.run(check_before_start, db, mode)
    except Exception:  # an unreachable database: the collector's own start reports it
        return
    if refusal:
        raise _fail(refusal)


def register(app: typer.Typer) -> None:
    """Add the ``server`` command group to the ``peekr`` CLI."""
    server_app = typer.Typer(
        help="Run the self-hosted Peekr collector (ingest + query API) and manage its API keys.",
        no_args_is_help=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    keys_app = typer.Typer(help="Create, list and revoke collector API keys.", no_args_is_help=True)

    @server_app.callback(invoke_without_command=True)
    def serve(
        ctx: typer.Context,
        db: str = typer.Option(_DB_DEFAULT, "--db", envvar="PEEKR_SERVER_DB", show_envvar=False, help=_DB_HELP),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
        port: int = typer.Option(8000, "--port", help="TCP port."),
        workers: int = typer.Option(
            1, "--workers", min=1, metavar="<int>", help="Worker processes (use PostgreSQL beyond 1)."
        ),
        max_body_bytes: int = typer.Option(
            5 * 1024 * 1024,
            "--max-body-bytes",
            envvar="PEEKR_SERVER_MAX_BODY_BYTES",
            show_envvar=False,
            help="Largest request as sent.",
        ),
        max_decompressed_bytes: int = typer.Option(
            50 * 1024 * 1024,
            "--max-decompressed-bytes",
            envvar="PEEKR_SERVER_MAX_DECOMPRESSED_BYTES",
            show_envvar=False,
            help="Largest request after gzip decompression.",
        ),
        rate_limit: float = typer.Option(
            50.0,
            "--rate-limit",
            envvar="PEEKR_SERVER_RATE_LIMIT",
            show_envvar=False,
            help="Requests/s per API key, shared by every collector process on the database; 0 = off.",
        ),
        rate_burst: int = typer.Option(
            100,
            "--rate-burst",
            envvar="PEEKR_SERVER_RATE_BURST",
            show_envvar=False,
            help="Requests a key may send at once.",
        ),
        auth_fail_rate: float = typer.Option(
            2.0,
            "--auth-fail-rate",
            envvar="PEEKR_SERVER_AUTH_FAIL_RATE",
            show_envvar=False,
            help="Failed authentications/s per client address (IPv6: per /64) before 429; 0 = off.",
        ),
        auth_fail_burst: int = typer.Option(
            30,
            "--auth-fail-burst",
            envvar="PEEKR_SERVER_AUTH_FAIL_BURST",
            show_envvar=False,
            help="Failures an address may make at once.",
        ),
        purge_interval: float = typer.Option(
            3600.0,
            "--purge-interval",
            envvar="PEEKR_SERVER_PURGE_INTERVAL_S",
            show_envvar=False,
            help="Seconds between retention purges.",
        ),
        forwarded_allow_ips: str = typer.Option(
            "127.0.0.1", "--forwarded-allow-ips", help="Proxies trusted for X-Forwarded-* (comma-separated)."
        ),
        ssl_certfile: str | None = typer.Option(None, "--ssl-certfile", help="Serve HTTPS with this certificate."),
        ssl_keyfile: str | None = typer.Option(None, "--ssl-keyfile", help="Private key for --ssl-certfile."),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
        alerts: str | None = typer.Option(
            None,
            "--alerts",
            envvar="PEEKR_SERVER_ALERTS_FILE",
            show_envvar=False,
            help="TOML file of alert rules judged per tenant over what is ingested (docs/alerts.md).",
        ),
        text_search: Literal["trigram", "scan"] = typer.Option(
            "trigram",
            "--text-search",
            envvar="PEEKR_SERVER_TEXT_SEARCH",
            show_envvar=False,
            help="PostgreSQL: trigram = an index makes q exact and fast (about half of PostgreSQL's ingest "
            "work); scan = no index, q reads at most 10,000 spans per request (as on SQLite). Every "
            "collector of one database must use the same value.",
        ),
    ) -> None:
        """Serve the collector: POST /v1/ingest, the /v1 query API, /docs and /openapi.json.

        Every option with a default can also come from the environment: PEEKR_SERVER_DB,
        PEEKR_SERVER_MAX_BODY_BYTES, PEEKR_SERVER_MAX_DECOMPRESSED_BYTES, PEEKR_SERVER_RATE_LIMIT,
        PEEKR_SERVER_RATE_BURST, PEEKR_SERVER_AUTH_FAIL_RATE, PEEKR_SERVER_AUTH_FAIL_BURST,
        PEEKR_SERVER_PURGE_INTERVAL_S, PEEKR_SERVER_ALERTS_FILE, PEEKR_SERVER_TEXT_SEARCH (the option wins).
        """
        if ctx.invoked_subcommand is not None:
            return
        _server_extra()
        import uvicorn

        from ..server._backends import is_postgres
        from ..server._config import ServerSettings

        try:
            settings = replace(
                ServerSettings.from_env(),  # keeps PEEKR_SERVER_MAX_RECORDS and friends
                db=db,
                max_body_bytes=max_body_bytes,
                max_decompressed_bytes=max_decompressed_bytes,
                rate_limit=rate_limit,
                rate_burst=rate_burst,
                auth_fail_rate=auth_fail_rate,
                auth_fail_burst=auth_fail_burst,
                purge_interval_s=purge_interval,
                alerts_file=alerts or "",
                text_search=text_search,
            )
            if alerts:
                from ..alerts._config import load_rules

                rules = load_rules(alerts)  # a mistake in the file stops here, in one line
                typer.echo(f"Alerts: {len(rules)} rule(s) from {alerts}", err=True)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        if workers > 1 and not is_postgres(db):
            typer.echo(
                "Warning: several workers on one SQLite file serialize their writes; prefer PostgreSQL.", err=True
            )
        if is_postgres(db):
            _check_text_search(db, text_search)
        where = "PostgreSQL" if is_postgres(db) else f"SQLite file {db}"
        typer.echo(f"Peekr collector on http://{host}:{port} storing into {where}; API docs at /docs", err=True)
        # Worker processes rebuild the app from the environment (uvicorn imports it by name).
        os.environ.update(settings.to_env())
        uvicorn.run(
            "peekr.server._asgi:app_from_env",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=log_level,
            forwarded_allow_ips=forwarded_allow_ips,
            proxy_headers=True,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )

    @keys_app.command("create")
    def create(
        tenant: str = typer.Option(..., "--tenant", help="Tenant the key writes to / reads from."),
        scope: str = typer.Option("ingest", "--scope", help="ingest (exporters) or read (query API, UI)."),
        name: str | None = typer.Option(None, "--name", help="A note to recognise the key by."),
        db: str = typer.Option(_DB_DEFAULT, "--db", envvar="PEEKR_SERVER_DB", show_envvar=False, help=_DB_HELP),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the key (for scripts)."),
    ) -> None:
        """Create a key and print it once: only a salted hash is stored."""
        _server_extra()
        from ..server._admin import create_key

        try:
            record, key = create_key(db, tenant, scope, name)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        if not quiet:
            typer.echo(
                f"Created {record.scope} key {record.key_id} for tenant {record.tenant_id!r}. "
                "Copy it now: it is not shown again.",
                err=True,
            )
        typer.echo(key)

    @keys_app.command("list")
    def list_(
        tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys."),
        db: str = typer.Option(_DB_DEFAULT, "--db", envvar="PEEKR_SERVER_DB", show_envvar=False, help=_DB_HELP),
    ) -> None:
        """List keys (ids, tenants, scopes, status), never the secrets."""
        _server_extra()
        from ..server._admin import list_keys

        keys = list_keys(db, tenant)
        if not keys:
            typer.echo("No keys. Create one: peekr server keys create --tenant <name>", err=True)
            return
        typer.echo(f"{'KEY ID':<14}{'TENANT':<24}{'SCOPE':<8}{'STATUS':<10}{'CREATED':<29}NAME")
        for k in keys:
            status = "active" if k.active else "revoked"
            typer.echo(f"{k.key_id:<14}{k.tenant_id:<24}{k.scope:<8}{status:<10}{k.created_at:<29}{k.name or ''}")

    @keys_app.command("revoke")
    def revoke(
        key_id: str = typer.Argument(..., help="Key id (from `keys list`) or the full key."),
        db: str = typer.Option(_DB_DEFAULT, "--db", envvar="PEEKR_SERVER_DB", show_envvar=False, help=_DB_HELP),
    ) -> None:
        """Revoke a key; every collector process refuses it from the next request on."""
        _server_extra()
        from ..server._admin import revoke_key

        if not revoke_key(db, key_id):
            raise _fail(f"no active key {key_id!r} (see `peekr server keys list`)")
        typer.echo(f"Revoked {key_id}.", err=True)

    server_app.add_typer(keys_app, name="keys")
    app.add_typer(server_app, name="server")
