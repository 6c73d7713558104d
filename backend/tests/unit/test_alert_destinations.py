"""Each OPS_ALERT_URLS form, read to the exact address, headers, message document or mail settings it means.

Plain values in, plain values out (no I/O): every field of the result is
compared, so that a parser that drops a header, a token or a default is seen.
"""

from __future__ import annotations

import base64

import pytest

from ops_api.adapters.alert_destinations import FAILURE, WARNING, HttpPost, Mail, UnusableUrl, parse_destination

TITLE = "Disk & <space>"
BODY = "first line\nsecond > line"
WORKFLOW_QUERY = "?api-version={version}&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sIg-1"


def post(url: str) -> HttpPost:
    destination = parse_destination(url)
    assert isinstance(destination, HttpPost)
    return destination


def mail(url: str) -> Mail:
    destination = parse_destination(url)
    assert isinstance(destination, Mail)
    return destination


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def refusal(url: str) -> str:
    with pytest.raises(UnusableUrl) as caught:
        parse_destination(url)
    return str(caught.value)


# -- generic JSON webhooks ----------------------------------------------------


def test_a_json_url_without_a_path_posts_over_http_to_the_root_with_no_headers():
    destination = post("json://hooks.example.gov:8080")

    assert (destination.kind, destination.url, destination.headers) == ("JSON webhook", "http://hooks.example.gov:8080/", {})


def test_a_json_url_turns_plus_parameters_into_headers_drops_apprise_knobs_and_keeps_the_rest_in_order():
    destination = post("jsons://hooks.example.gov/ops?cto=5&+X-Team=iam&-debug=1&team=a%20b&+X-Sig=a=b&format=text&+=bare&+Q=1&site=hq")

    assert destination.url == "https://hooks.example.gov/ops?team=a+b&%2B=bare&site=hq"
    assert destination.headers == {"X-Team": "iam", "X-Sig": "a=b", "Q": "1"}


def test_a_json_url_with_a_user_and_password_sends_them_as_basic_authentication_never_in_the_address():
    destination = post("jsons://ops%40agency:p%3Ass@hooks.example.gov/ops?+X-Team=iam")

    assert destination.url == "https://hooks.example.gov/ops"
    assert destination.headers == {"X-Team": "iam", "Authorization": basic("ops@agency:p:ss")}
    assert destination.where == "hooks.example.gov"


def test_a_json_url_with_a_user_and_no_password_authenticates_with_an_empty_password():
    assert post("json://ops@hooks.example.gov/").headers == {"Authorization": basic("ops:")}


def test_the_json_webhook_document_is_version_title_message_and_type():
    document = post("json://hooks.example.gov/").payload(TITLE, BODY, WARNING)

    assert document == {"version": "1.0", "title": TITLE, "message": BODY, "type": WARNING}


# -- Slack ------------------------------------------------------------------


def test_a_slack_url_may_name_a_bot_and_a_person_and_keeps_the_tokens_case():
    destination = post("slack://ops-bot@T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN/@oncall")

    assert (destination.kind, destination.url) == ("Slack webhook", "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN")
    assert destination.payload("t", "b", FAILURE)["channel"] == "@oncall"


def test_a_slack_channel_may_be_written_escaped_in_the_path():
    destination = post("slack://T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN/%23ops-alerts")

    assert destination.url == "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN"
    assert destination.payload("t", "b", FAILURE)["channel"] == "#ops-alerts"


def test_the_slack_document_escapes_mrkdwn_and_names_no_channel_unless_asked():
    document = post("slack://T0AAAAAAA/B0BBBBBBB/XyZsecretTOKEN").payload(TITLE, BODY, FAILURE)

    assert document == {"text": "*Disk &amp; &lt;space&gt;*\nfirst line\nsecond &gt; line"}


def test_a_slack_webhook_address_is_posted_to_as_written_with_the_slack_document():
    url = "https://hooks.slack.com/services/T0/B0/XyZ"
    destination = post(url)

    assert (destination.kind, destination.url) == ("Slack webhook", url)
    assert destination.payload("t", "b", FAILURE) == {"text": "*t*\nb"}


# -- Teams through a workflow -------------------------------------------------


@pytest.mark.parametrize("scheme", ["workflow", "workflows"])
def test_a_workflow_url_maps_to_the_logic_apps_trigger_with_the_default_api_version(scheme):
    destination = post(f"{scheme}://ops@prod-01.westus.logic.azure.com:443/wf01/sIg-1")

    assert destination.kind == "Teams workflow"
    assert destination.url == (
        "https://prod-01.westus.logic.azure.com:443/workflows/wf01/triggers/manual/paths/invoke"
        + WORKFLOW_QUERY.format(version="2016-06-01")
    )


@pytest.mark.parametrize(
    ("query", "path", "version"),
    [
        ("?pa=yes&route=12", "/powerautomate/automations/direct/cu/12", "1"),
        ("?powerautomate=TRUE", "/powerautomate/automations/direct", "1"),
        ("?pa=1&route=r1", "/powerautomate/automations/direct", "1"),
        ("?route=12", "", "2016-06-01"),
        ("?pa=no&ver=3", "", "3"),
        ("?api-version=4", "", "4"),
        ("?pa=yes&ver=5&api-version=4", "/powerautomate/automations/direct", "5"),
    ],
)
def test_a_power_automate_workflow_url_takes_its_route_and_version_from_the_query(query, path, version):
    destination = post(f"workflows://flow.powerplatform.com/wf01/sIg-1{query}")

    assert destination.url == (
        f"https://flow.powerplatform.com{path}/workflows/wf01/triggers/manual/paths/invoke" + WORKFLOW_QUERY.format(version=version)
    )


def test_the_workflow_document_is_an_adaptive_card_coloured_by_the_level():
    destination = post("workflows://prod.logic.azure.com/wf01/sIg-1")

    def card(color: str) -> dict:
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
                            {"type": "TextBlock", "text": TITLE, "style": "heading", "weight": "Bolder", "color": color, "wrap": True},
                            {"type": "TextBlock", "text": "first line\n\nsecond > line", "wrap": True},
                        ],
                        "msteams": {"width": "full"},
                    },
                }
            ],
        }

    assert destination.payload(TITLE, BODY, FAILURE) == card("Attention")
    assert destination.payload(TITLE, BODY, WARNING) == card("Warning")


@pytest.mark.parametrize(
    "url",
    [
        "https://prod-01.westus.logic.azure.com:443/workflows/8f/triggers/manual/paths/invoke?sig=x",
        "https://flow.powerautomate.com/powerautomate/automations/direct/workflows/8f/triggers/manual/paths/invoke?sig=x",
        "https://Flow.PowerPlatform.com/workflows/8f/triggers/manual/paths/invoke?sig=x",
    ],
)
def test_a_workflow_address_is_posted_to_as_written_with_the_adaptive_card(url):
    destination = post(url)

    assert (destination.kind, destination.url) == ("Teams workflow", url)
    assert destination.payload("t", "b", FAILURE)["attachments"][0]["content"]["type"] == "AdaptiveCard"


# -- Teams through an Office 365 connector --------------------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("msteams://agency/A1/B2/C3", "https://agency.webhook.office.com/webhookb2/A1/IncomingWebhook/B2/C3"),
        ("msteams://agency/A1/B2/C3/D4", "https://agency.webhook.office.com/webhookb2/A1/IncomingWebhook/B2/C3/D4"),
        ("msteams://A1/B2/C3", "https://outlook.office.com/webhook/A1/IncomingWebhook/B2/C3"),
    ],
)
def test_a_connector_url_maps_to_the_office_address_with_or_without_a_team(url, address):
    destination = post(url)

    assert (destination.kind, destination.url) == ("Teams connector", address)


def test_the_connector_document_is_a_message_card_coloured_by_the_level():
    destination = post("msteams://agency/A1/B2/C3")

    def card(colour: str) -> dict:
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": TITLE,
            "themeColor": colour,
            "title": TITLE,
            "sections": [{"text": "first line  \nsecond > line"}],
        }

    assert destination.payload(TITLE, BODY, FAILURE) == card("A4262C")
    assert destination.payload(TITLE, BODY, WARNING) == card("CA5010")
    assert destination.payload(TITLE, BODY, "other") == card("A4262C")


def test_a_connector_address_is_posted_to_as_written_with_the_message_card():
    url = "https://Agency.Webhook.Office.com/webhookb2/a1/IncomingWebhook/b2/c3"
    destination = post(url)

    assert (destination.kind, destination.url) == ("Teams connector", url)
    assert destination.payload("t", "b", WARNING)["@type"] == "MessageCard"


# -- e-mail -------------------------------------------------------------------


def test_a_mailtos_url_sends_with_starttls_as_the_user_at_the_host_to_the_sender_when_no_one_is_named():
    assert mail("mailtos://ops:pa55word@example.gov") == Mail(
        host="example.gov",
        port=587,
        mode="starttls",
        sender="ops@example.gov",
        recipients=("ops@example.gov",),
        username="ops",
        password="pa55word",
    )


def test_a_mailto_url_is_plain_smtp_on_port_25_by_default():
    assert mail("mailto://example.gov?from=alerts@example.gov&to=oncall@example.gov") == Mail(
        host="example.gov", port=25, mode="insecure", sender="alerts@example.gov", recipients=("oncall@example.gov",)
    )


def test_a_mail_url_takes_user_password_sender_name_server_and_mode_from_the_query():
    url = "mailto://example.gov:2525/first@example.gov?user=ops&pass=pa55word&from=alerts@example.gov&name=OPS Alerts&smtp=smtp.example.gov&mode=SSL"

    assert mail(url) == Mail(
        host="smtp.example.gov",
        port=2525,
        mode="ssl",
        sender="OPS Alerts <alerts@example.gov>",
        recipients=("first@example.gov",),
        username="ops",
        password="pa55word",
    )


def test_mail_recipients_are_split_on_commas_semicolons_and_spaces_after_those_in_the_path():
    destination = mail("mailtos://ops:pw@example.gov/a@example.gov?to=b@example.gov,c@example.gov;%20d@example.gov")

    assert destination.recipients == ("a@example.gov", "b@example.gov", "c@example.gov", "d@example.gov")


def test_a_user_name_that_is_an_address_is_the_sender_with_or_without_a_host():
    with_host = mail("mailtos://example.gov?user=ops@agency.gov&pass=pw")
    server_only = mail("mailtos://?user=ops@agency.gov&pass=pw&smtp=smtp.example.gov")

    assert (with_host.sender, with_host.recipients) == ("ops@agency.gov", ("ops@agency.gov",))
    assert (server_only.host, server_only.sender) == ("smtp.example.gov", "ops@agency.gov")


# -- refusals: each says what is wrong in one line, never the URL --------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("json://127.0.0.1:notaport/x", "it does not parse as a URL"),
        (
            "ftp://files.example.gov/x",
            "its scheme is not one of json://, jsons://, slack://, workflows://, msteams://, mailto://, mailtos:// "
            "or a Slack or Teams https:// webhook address",
        ),
        ("json:///path", "a JSON webhook needs a host"),
        ("slack://T0AAAAAAA/B0BBBBBBB", "a Slack URL needs its three webhook tokens: slack://TokenA/TokenB/TokenC"),
        ("slack://T0AAAAAAA/B0BBBBBBB/Xy!Z", "a Slack URL needs its three webhook tokens: slack://TokenA/TokenB/TokenC"),
        ("workflows://prod.logic.azure.com/only-one", "a Teams workflow URL needs workflows://host/workflow/signature"),
        ("workflows:///wf01/sIg-1", "a Teams workflow URL needs workflows://host/workflow/signature"),
        ("workflows://prod.logic.azure.com/wf01/s!g", "a Teams workflow URL needs workflows://host/workflow/signature"),
        ("msteams://agency/A1", "a Teams connector URL needs msteams://team/TokenA/TokenB/TokenC[/TokenD]"),
        ("msteams://agency/A1/B2/C3/D4/E5", "a Teams connector URL needs msteams://team/TokenA/TokenB/TokenC[/TokenD]"),
        ("msteams://bad!team/A1/B2/C3", "a Teams connector URL needs msteams://team/TokenA/TokenB/TokenC[/TokenD]"),
        ("msteams://agency/A1/B!2/C3", "a Teams connector URL needs msteams://team/TokenA/TokenB/TokenC[/TokenD]"),
        ("msteams://bad!team/B2/C3", "a Teams connector URL needs msteams://team/TokenA/TokenB/TokenC[/TokenD]"),
        ("msteams://A1/B!2/C3", "a Teams connector URL needs msteams://team/TokenA/TokenB/TokenC[/TokenD]"),
        ("https://hooks.example.gov/services/T0/B0/X", "an https:// address must be a Slack or Teams webhook; write a generic one as jsons://"),
        ("https://hooks.example.gov/webhookb2/x", "an https:// address must be a Slack or Teams webhook; write a generic one as jsons://"),
        ("https://hooks.example.gov/workflows/x", "an https:// address must be a Slack or Teams webhook; write a generic one as jsons://"),
        ("https://agency.webhook.office.com/other/x", "an https:// address must be a Slack or Teams webhook; write a generic one as jsons://"),
        ("mailtos://ops:pw@example.gov?mode=tls", "mode= must be insecure, starttls or ssl"),
        ("mailto://?from=a@example.gov&to=b@example.gov", "an e-mail URL needs a host (or smtp=)"),
        ("mailto://example.gov?to=b@example.gov", "an e-mail URL needs a sender: from=, or a user name with the host as its domain"),
        ("mailto://example.gov?from=alerts&to=b@example.gov", "an e-mail URL needs a sender: from=, or a user name with the host as its domain"),
        (
            "mailtos://?user=ops&pass=pw&smtp=smtp.example.gov&to=b@example.gov",
            "an e-mail URL needs a sender: from=, or a user name with the host as its domain",
        ),
        ("mailto://example.gov/oncall?from=a@example.gov", "an e-mail URL needs recipients that are e-mail addresses (to=)"),
        ("mailto://ops:pw@example.gov?to=b@example.gov", "a password is never sent over plain SMTP: use mailtos:// or mode=ssl"),
        ("mailto://example.gov?user=ops&pass=pw&to=b@example.gov", "a password is never sent over plain SMTP: use mailtos:// or mode=ssl"),
    ],
)
def test_an_unusable_url_is_refused_with_its_one_line_reason(url, message):
    assert refusal(url) == message
