"""What each ``OPS_ALERT_URLS`` entry means: where an alert goes and what it looks like there (no I/O).

The URL forms (the scheme picks the destination):

* ``json://host[:port]/path`` (``jsons://`` for HTTPS): a generic JSON webhook.
  It receives ``{"version": "1.0", "title", "message", "type"}``, ``type``
  being ``failure`` or ``warning``. ``user:password@`` becomes HTTP basic
  authentication, and a query parameter ``+Name=value`` a request header.
* ``slack://TokenA/TokenB/TokenC[/#channel]``, or the webhook's own
  ``https://hooks.slack.com/services/...`` address: a Slack incoming webhook.
* ``workflows://host[:port]/workflow/signature``, or the workflow's own
  ``https://...logic.azure.com.../workflows/.../invoke?...`` address: a
  Microsoft Teams channel through a Workflows (Power Automate) webhook, the
  way Teams now receives webhooks.
* ``msteams://team/TokenA/TokenB/TokenC[/TokenD]``, or the connector's own
  ``https://<team>.webhook.office.com/webhookb2/...`` address: a Teams
  channel through an Office 365 connector (older tenants).
* ``mailto://[user:password@]host[:port][/to...]?to=...&from=...&smtp=...&mode=...``
  (``mailtos://`` for STARTTLS on 587; ``mode=ssl`` for TLS on 465): e-mail.
  ``mailto://`` alone is plain SMTP on port 25 and refuses to send a
  password over it.

These are the URL forms Apprise used, so a setting written for it keeps
working; the job no longer depends on Apprise because Apprise cannot be
stopped once it has started sending, which forced the job to run it in a
child process (seconds of start-up on every alert).

Nothing here puts a URL in a message: :class:`UnusableUrl` says what is wrong, never what was written.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

FAILURE = "failure"
WARNING = "warning"


class UnusableUrl(ValueError):
    """An entry this module cannot send to; the message never contains the URL."""


@dataclass(frozen=True)
class HttpPost:
    kind: str  # what the destination is, for messages
    url: str = field(repr=False)  # the full address, tokens included: never logged
    payload: Callable[[str, str, str], dict[str, Any]] = field(repr=False)  # (title, body, level) -> JSON
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def where(self) -> str:
        return urlsplit(self.url).netloc.rpartition("@")[2]


@dataclass(frozen=True)
class Mail:
    host: str
    port: int
    mode: str  # "insecure", "starttls" or "ssl"
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    kind: str = "e-mail"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


Destination = HttpPost | Mail


# -- payloads ----------------------------------------------------------------


def _json_document(title: str, body: str, level: str) -> dict[str, Any]:
    return {"version": "1.0", "title": title, "message": body, "type": level}


def _slack_document(channel: str | None) -> Callable[[str, str, str], dict[str, Any]]:
    def document(title: str, body: str, level: str) -> dict[str, Any]:
        def escape(text: str) -> str:  # Slack's mrkdwn reserves &, < and >
            return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        result: dict[str, Any] = {"text": f"*{escape(title)}*\n{escape(body)}"}
        if channel:
            result["channel"] = channel
        return result

    return document


_COLOURS = {FAILURE: "A4262C", WARNING: "CA5010"}


def _teams_connector_card(title: str, body: str, level: str) -> dict[str, Any]:
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": title,
        "themeColor": _COLOURS.get(level, "A4262C"),
        "title": title,
        "sections": [{"text": body.replace("\n", "  \n")}],
    }


def _teams_workflow_card(title: str, body: str, level: str) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": title,
                            "style": "heading",
                            "weight": "Bolder",
                            "color": "Attention" if level == FAILURE else "Warning",
                            "wrap": True,
                        },
                        {"type": "TextBlock", "text": body.replace("\n", "\n\n"), "wrap": True},
                    ],
                    "msteams": {"width": "full"},
                },
            }
        ],
    }


# -- URLs --------------------------------------------------------------------

_TOKEN = re.compile(r"^[A-Za-z0-9_@-]+$")
_WORKFLOW_HOSTS = (".logic.azure.com", ".powerplatform.com", ".powerautomate.com")


def parse_destination(url: str) -> Destination:
    """The destination an ``OPS_ALERT_URLS`` entry names; raises :class:`UnusableUrl`."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        raise UnusableUrl("it does not parse as a URL") from None
    scheme = parts.scheme.lower()
    if scheme in ("json", "jsons"):
        return _json_webhook(parts, secure=scheme == "jsons")
    if scheme == "slack":
        return _slack(parts)
    if scheme in ("msteams", "workflow", "workflows"):
        return _teams(parts, scheme)
    if scheme in ("mailto", "mailtos"):
        return _mail(parts, secure=scheme == "mailtos")
    if scheme == "https":
        return _native_https(url.strip(), parts)
    raise UnusableUrl(
        "its scheme is not one of json://, jsons://, slack://, workflows://, msteams://, mailto://, mailtos:// "
        "or a Slack or Teams https:// webhook address"
    )


def _query(parts: Any) -> list[tuple[str, str]]:
    # Not parse_qsl: it reads "+" as a space, and "+Name=value" is how a header is written.
    pairs = (piece.partition("=") for piece in parts.query.split("&") if piece)
    return [(unquote(name), unquote(value)) for name, _, value in pairs]


def _path_parts(parts: Any) -> list[str]:
    return [unquote(piece) for piece in parts.path.split("/") if piece]


def _json_webhook(parts: Any, *, secure: bool) -> HttpPost:
    if not parts.hostname:
        raise UnusableUrl("a JSON webhook needs a host")
    netloc = parts.netloc.rpartition("@")[2]
    address = f"{'https' if secure else 'http'}://{netloc}{parts.path or '/'}"
    headers = {}
    query = []
    for name, value in _query(parts):
        if name.startswith("+") and len(name) > 1:
            headers[name[1:]] = value
        elif name.startswith("-") or name in _APPRISE_TUNING:
            continue  # Apprise's own knobs (timeouts, format): nothing to do here
        else:
            query.append((name, value))
    if query:
        address += "?" + urlencode(query)
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return HttpPost("JSON webhook", address, _json_document, headers)


# Apprise's general URL parameters; accepted and ignored so that old settings still parse.
_APPRISE_TUNING = frozenset({"cto", "rto", "format", "overflow", "emojis", "verify", "store", "tz", "method"})


def _slack(parts: Any) -> HttpPost:
    tokens = [parts.hostname or "", *_path_parts(parts)]
    channel = next((token for token in tokens if token.startswith(("#", "@"))), None)
    if parts.fragment:  # slack://A/B/C/#channel puts the channel in the fragment
        channel = "#" + unquote(parts.fragment)
    tokens = [token for token in tokens if token and not token.startswith(("#", "@"))]
    # The host is lower-cased by urlsplit; Slack's tokens are case-sensitive, so take it from the netloc.
    if tokens:
        tokens[0] = parts.netloc.rpartition("@")[2]
    if len(tokens) != 3 or not all(_TOKEN.match(token) for token in tokens):
        raise UnusableUrl("a Slack URL needs its three webhook tokens: slack://TokenA/TokenB/TokenC")
    return HttpPost("Slack webhook", "https://hooks.slack.com/services/" + "/".join(tokens), _slack_document(channel))


def _teams(parts: Any, scheme: str) -> HttpPost:
    host = parts.netloc.rpartition("@")[2]
    tokens = _path_parts(parts)
    if scheme in ("workflow", "workflows"):
        if not host or len(tokens) != 2 or not all(_TOKEN.match(token) for token in tokens):
            raise UnusableUrl("a Teams workflow URL needs workflows://host/workflow/signature")
        workflow, signature = tokens
        options = dict(_query(parts))
        automate = options.get("pa", options.get("powerautomate", "no")).lower() in ("yes", "true", "1")
        path = "/powerautomate/automations/direct" if automate else ""
        if automate and options.get("route", "").isdigit():
            path += f"/cu/{options['route']}"
        version = options.get("ver") or options.get("api-version") or ("1" if automate else "2016-06-01")
        address = (
            f"https://{host}{path}/workflows/{workflow}/triggers/manual/paths/invoke"
            f"?api-version={version}&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={signature}"
        )
        return HttpPost("Teams workflow", address, _teams_workflow_card)
    # msteams://: an Office 365 connector; team/A/B/C[/D], or the legacy A/B/C without a team.
    if len(tokens) in (3, 4) and _TOKEN.match(host) and all(_TOKEN.match(token) for token in tokens):
        first, *rest = tokens
        address = f"https://{host}.webhook.office.com/webhookb2/{first}/IncomingWebhook/" + "/".join(rest)
    elif len(tokens) == 2 and _TOKEN.match(host) and all(_TOKEN.match(token) for token in tokens):
        address = f"https://outlook.office.com/webhook/{host}/IncomingWebhook/" + "/".join(tokens)
    else:
        raise UnusableUrl("a Teams connector URL needs msteams://team/TokenA/TokenB/TokenC[/TokenD]")
    return HttpPost("Teams connector", address, _teams_connector_card)


def _native_https(url: str, parts: Any) -> HttpPost:
    host = (parts.hostname or "").lower()
    if host == "hooks.slack.com" and parts.path.startswith("/services/"):
        return HttpPost("Slack webhook", url, _slack_document(None))
    if host.endswith(".webhook.office.com") and "/webhookb2/" in parts.path:
        return HttpPost("Teams connector", url, _teams_connector_card)
    if host.endswith(_WORKFLOW_HOSTS) and "/workflows/" in parts.path:
        return HttpPost("Teams workflow", url, _teams_workflow_card)
    raise UnusableUrl("an https:// address must be a Slack or Teams webhook; write a generic one as jsons://")


_MODES = {"insecure": 25, "starttls": 587, "ssl": 465}


def _mail(parts: Any, *, secure: bool) -> Mail:
    options = {name.lower(): value for name, value in _query(parts) if value}
    mode = options.get("mode", "starttls" if secure else "insecure").lower()
    if mode not in _MODES:
        raise UnusableUrl("mode= must be insecure, starttls or ssl")
    username = unquote(parts.username) if parts.username else options.get("user")
    password = unquote(parts.password) if parts.password else options.get("pass")
    domain = parts.hostname or ""
    if username and "@" not in username and domain:
        default_sender = f"{username}@{domain}"
    else:
        default_sender = username or ""
    sender = options.get("from") or default_sender
    if options.get("name") and sender:
        sender = f"{options['name']} <{sender}>"
    recipients = [*_path_parts(parts), *re.split(r"[\s,;]+", options.get("to", ""))]
    recipients = [address for address in recipients if address] or ([parseaddr(sender)[1]] if sender else [])
    smtp_host = options.get("smtp") or domain
    if not smtp_host:
        raise UnusableUrl("an e-mail URL needs a host (or smtp=)")
    if not sender or "@" not in parseaddr(sender)[1]:
        raise UnusableUrl("an e-mail URL needs a sender: from=, or a user name with the host as its domain")
    if not recipients or not all("@" in address for address in recipients):
        raise UnusableUrl("an e-mail URL needs recipients that are e-mail addresses (to=)")
    if password and mode == "insecure":
        raise UnusableUrl("a password is never sent over plain SMTP: use mailtos:// or mode=ssl")
    return Mail(
        host=smtp_host,
        port=parts.port or _MODES[mode],
        mode=mode,
        sender=sender,
        recipients=tuple(recipients),
        username=username,
        password=password,
    )
