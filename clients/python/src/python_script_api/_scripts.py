# The script library through the client: `SavedScript` (a script saved on the server, at one
# version, with its source), `ScriptSummary` and `ScriptPage` (GET /scripts). Not here: sending
# requests (_client.py, whose `save_script`, `script`, `scripts`, `update_script`,
# `delete_script`, `run_script` and `submit_script_job` make and use these).
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._results import _int, _str


@dataclass(frozen=True)
class SavedScript:
    """A saved script at one version (POST /scripts, GET /scripts/{id}, PUT /scripts/{id}, GET
    /scripts/{id}/versions/{n})."""

    id: str
    name: str
    #: This version's number: the newest, unless one was asked for.
    version: int
    description: str
    #: This version's source.
    script: str
    created_at: str
    updated_at: str
    #: When this version was saved.
    version_created_at: str
    #: Every version's number, oldest first (empty when one version was asked for).
    versions: list[int]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SavedScript:
        versions = body.get("versions") or []
        return cls(
            id=_str(body.get("id")),
            name=_str(body.get("name")),
            version=_int(body.get("version")) or 0,
            description=_str(body.get("description")),
            script=_str(body.get("script")),
            created_at=_str(body.get("created_at")),
            updated_at=_str(body.get("updated_at")),
            version_created_at=_str(body.get("version_created_at")),
            versions=[n for v in versions if isinstance(v, dict) and (n := _int(v.get("version"))) is not None],
            raw=body,
        )


@dataclass(frozen=True)
class ScriptSummary:
    """A saved script as GET /scripts lists it: its newest version, without the source."""

    id: str
    name: str
    version: int
    description: str
    created_at: str
    updated_at: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ScriptSummary:
        return cls(
            id=_str(body.get("id")),
            name=_str(body.get("name")),
            version=_int(body.get("version")) or 0,
            description=_str(body.get("description")),
            created_at=_str(body.get("created_at")),
            updated_at=_str(body.get("updated_at")),
        )


@dataclass(frozen=True)
class ScriptPage:
    """One page of GET /scripts, newest first; `next_cursor` for the next."""

    scripts: list[ScriptSummary]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ScriptPage:
        cursor = body.get("next_cursor")
        return cls(
            scripts=[ScriptSummary.from_json(s) for s in body.get("scripts") or [] if isinstance(s, dict)],
            next_cursor=cursor if isinstance(cursor, str) else None,
        )
