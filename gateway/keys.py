"""API-key admin CLI: `python -m gateway.keys create --role agent --name alice [--agent ID] | list | revoke ID |
link ID --agent ID | ensure-admin`.

A new key goes to stdout alone (so `KEY=$(python -m gateway.keys create ...)` works); everything
else to stderr. Only the key's SHA-256 is stored: a lost key cannot be shown again, only replaced.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from shared import auth
from shared.db import describe_db_error, run_migrations, session_scope
from shared.errors import CopilotError
from shared.models import audit_actor


def _print_new(name: str, role: str, key: str) -> None:
    print(f"API key '{name}' (role {role}) created; it is shown only now:", file=sys.stderr)
    print(key)
    print(f"  export COPILOT_API_KEY={key}", file=sys.stderr)


def cmd_create(args: argparse.Namespace) -> int:
    with session_scope() as session:
        row, key = auth.create_key(session, name=args.name, role=args.role, agent_id=args.agent)
        _print_new(row.name, row.role, key)
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    with session_scope() as session:
        row = auth.link_key(session, key_id=args.key_id, agent_id=args.agent)
        linked = f"linked to agent '{row.agent_id}'" if row.agent_id else "linked to no agent"
        print(f"key {row.id} '{row.name}' ({row.role}) {linked}", file=sys.stderr)
    return 0


def _when(moment: datetime | None, by: str | None = None) -> str:
    if moment is None:
        return "-"
    return f"{moment:%Y-%m-%d %H:%M:%S}" + (f" by {by}" if by else "")


def cmd_list(args: argparse.Namespace) -> int:
    with session_scope() as session:
        rows = auth.list_keys(session, include_revoked=args.all)
        print(f"{'id':>4}  {'name':<24} {'role':<12} {'agent':<20} {'prefix':<12} {'last used':<20} created; revoked")
        for r in rows:
            made, revoked = _when(r.created_at, r.created_by), _when(r.revoked_at, r.revoked_by)
            line = (
                f"{r.id:>4}  {r.name:<24} {r.role:<12} {r.agent_id or '-':<20} {r.key_prefix + '…':<12} "
                f"{_when(r.last_used_at):<20} {made}"
            )
            print(line + (f"; revoked {revoked}" if r.revoked_at else ""))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with session_scope() as session:
        row = auth.revoke_key(session, key_id=args.key_id)
        print(f"revoked key {row.id} '{row.name}' ({row.role})", file=sys.stderr)
    return 0


def cmd_ensure_admin(args: argparse.Namespace) -> int:
    """Create a first admin key (printed once) unless an active admin key exists already."""
    run_migrations()
    with session_scope() as session:
        if auth.has_active_admin(session):
            print("an admin API key exists already (see `python -m gateway.keys list`)", file=sys.stderr)
            return 0
        row, key = auth.create_key(session, name=args.name, role=auth.Role.admin)
        _print_new(row.name, row.role, key)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.keys", description="Manage Support Copilot API keys.")
    sub = parser.add_subparsers(dest="command", required=True)

    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses the key (e.g. alice, zendesk)")
    create.add_argument("--role", required=True, choices=[r.value for r in auth.Role])
    create.add_argument("--agent", help="the id of the agent who uses the key (`me` in the ticket list)")
    create.set_defaults(func=cmd_create)

    link = sub.add_parser("link", help="link a key to the agent who uses it, or unlink it")
    link.add_argument("key_id", type=int)
    whom = link.add_mutually_exclusive_group(required=True)
    whom.add_argument("--agent", help="the agent's id")
    whom.add_argument("--none", dest="agent", action="store_const", const=None, help="link it to no agent")
    link.set_defaults(func=cmd_link)

    listing = sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(func=cmd_list)

    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", type=int)
    revoke.set_defaults(func=cmd_revoke)

    ensure = sub.add_parser("ensure-admin", help="create and print an admin key if none exists (make run)")
    ensure.add_argument("--name", default="local-admin")
    ensure.set_defaults(func=cmd_ensure_admin)

    args = parser.parse_args(argv)
    actor = audit_actor.set(f"cli:{_os_user()}")  # keys made or revoked here say so
    try:
        return int(args.func(args))
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        print(f"error: {describe_db_error(exc)}", file=sys.stderr)
        return 2
    finally:
        audit_actor.reset(actor)


def _os_user() -> str:
    """The login running the CLI; a container may have no name for its uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
