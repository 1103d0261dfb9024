"""The console's HTTP routes, one APIRouter per concern; ``create_app`` includes them all."""

from __future__ import annotations

from fastapi import APIRouter

from . import audit, cases, decisions, export, health, login, queue, users

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    login.router,
    queue.router,
    cases.router,
    decisions.router,
    export.router,
    audit.router,
    users.router,
)
