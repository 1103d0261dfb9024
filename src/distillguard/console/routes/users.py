"""User management (admin only): list users, add one (audited)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from ..auth import ROLES
from ..context import Console
from ..session import Admin, AdminForm

router = APIRouter()


@router.get("/admin/users")
def users_page(sess: Admin, console: Console, msg: str = "") -> Response:
    return console.page("users.html", sess, users=console.db.users(), roles=ROLES, msg=msg)


@router.post("/admin/users")
def add_user(
    sess: AdminForm,
    console: Console,
    username: str = Form(""),
    password: str = Form(""),
    role: str = Form("viewer"),
) -> Response:
    console.db.add_user(username, password, role, created_by=sess["username"])
    console.audit.append(
        "add_user",
        "user",
        username,
        sess["username"],
        f"created with role {role}",
        extra={"role": role, "via": "console"},
    )
    return RedirectResponse(
        "/admin/users?" + urlencode({"msg": f"user {username} added"}), status_code=303
    )
