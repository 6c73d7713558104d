"""Helpers for driving the HTTP API in tests: log in through FakeAuth, send tokens, read errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_api.models import OpsEvent, OpsEventType, User, UserSession


def login(client: Any, user: User) -> dict[str, str]:
    """Log ``user`` in through FakeAuth (which the test must have enabled) and return the tokens."""
    response = client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(user.oidc_id)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: Any, status: int) -> dict[str, Any]:
    """Assert the answer is an error with ``status`` in the API's one error shape; return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    assert "Traceback" not in response.get_data(as_text=True)
    return body["error"]


def sessions_of(session: Session, user: User) -> list[UserSession]:
    session.expire_all()
    return session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)).all()


def events_of_type(session: Session, event_type: OpsEventType) -> list[OpsEvent]:
    return session.scalars(select(OpsEvent).where(OpsEvent.event_type == event_type).order_by(OpsEvent.id)).all()


def row_count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))
