"""The classifier on the failure strings of docs/UPSTREAM.md §5 (each one a fixture) and §3c/§3d."""
from __future__ import annotations

import json

import pytest

from fake_upstream import (BAD_GATEWAY_502, DETAIL_400, FETCH_FAILED_500, INVALID_SIZE_400,
                           MODERATION_400, TOKEN_EXPIRED_401, TOKEN_INVALIDATED_401,
                           TOKEN_REFRESH_500, TOOL_CHOICE_400, USAGE_LIMIT_429)

from ima2_lib.upstream import apply_event, ImageResult, parse_event_json
from ima2_lib.upstream_errors import (classify, from_http, from_stream_error,
                                      retry_after_from)

# (status, code, type, message) -> expected ima2 code; numbers refer to docs/UPSTREAM.md §5.
STRINGS = [
    ((400, None, None, "Instructions are not valid"), "INVALID_REQUEST"),  # 1
    ((400, None, None, "Store must be set to false"), "INVALID_REQUEST"),  # 2
    ((400, None, None, "Stream must be set to true"), "INVALID_REQUEST"),  # 3
    ((400, None, None, "Unsupported parameter: max_output_tokens"), "INVALID_REQUEST"),
    ((400, None, None, "The 'gpt-5.1-codex' model is not supported when using Codex with a "
                       "ChatGPT account."), "INVALID_REQUEST"),  # 4
    ((400, None, "invalid_request_error", "The 'gpt-5.5' model is not supported when using "
                                          "Codex with a ChatGPT account."), "INVALID_REQUEST"),
    ((400, None, None, "Invalid size '1792x936'. Width and height must both be divisible by "
                       "16."), "INVALID_REQUEST"),  # 5
    ((400, None, None, "Previous response with id 'resp_1' not found."), "INVALID_REQUEST"),  # 6
    ((400, None, "invalid_request_error", "Tool choice 'image_generation' not found in 'tools' "
                                          "parameter."), "INVALID_REQUEST"),  # 7
    ((400, "moderation_blocked", "image_generation_user_error",
      "Your request was rejected by the safety system. safety_violations=[sexual]."),
     "SAFETY_REFUSAL"),  # 8
    ((502, None, "upstream_error", "Failed to forward Codex image request"), "UPSTREAM_5XX"),  # 9
    ((None, None, None, "OAuth image response did not contain a completed image."),
     "OAUTH_UPSTREAM_ERROR"),  # 11 (not a safety refusal)
    ((401, "token_expired", None, "Provided authentication token is expired. Please try "
                                  "signing in again."), "AUTH_CHATGPT_EXPIRED"),  # 14
    ((401, None, None, "Your access token could not be refreshed because your refresh token "
                       "was already used. Please log out and sign in again."),
     "AUTH_CHATGPT_EXPIRED"),
    ((401, "token_invalidated", "invalid_request_error", "Your authentication token has been "
                                                         "invalidated."),
     "AUTH_CHATGPT_EXPIRED"),  # 15
    ((500, None, "server_error", "Failed to refresh token: Your access token could not be "
                                 "refreshed because your refresh token was already used."),
     "AUTH_CHATGPT_EXPIRED"),  # 16
    ((401, None, None, "exceeded retry limit, last status: 401 Unauthorized, request id: x"),
     "AUTH_CHATGPT_EXPIRED"),  # 17
    ((401, "refresh_token_reused", None, None), "AUTH_CHATGPT_EXPIRED"),  # 18
    ((500, None, "server_error", "OpenAI OAuth token request failed with HTTP 401."),
     "AUTH_CHATGPT_EXPIRED"),
    ((429, None, "usage_limit_reached", "The usage limit has been reached"), "RATE_LIMITED"),  # 20
    ((None, "rate_limit_exceeded", None, "Rate limit reached for organization org-1 on tokens "
                                         "per min (TPM). Please try again in 3.233s."),
     "RATE_LIMITED"),  # 21
    ((429, None, None, "exceeded retry limit, last status: 429 Too Many Requests"),
     "RATE_LIMITED"),  # 22
    ((None, "server_error", None, "An error occurred while processing your request. You can "
                                  "retry your request."), "UPSTREAM_5XX"),  # 23
    ((None, None, None, "stream disconnected before completion: stream closed before "
                        "response.completed"), "OAUTH_UPSTREAM_ERROR"),  # 24
    ((403, None, None, None), "INVALID_REQUEST"),  # 25 (HTML body: no message)
    ((500, None, "server_error", "fetch failed"), "NETWORK_FAILED"),  # 26
    ((500, None, "server_error", "ChatGPT access token not found. Run `npx openai-oauth login` "
                                 "to sign in."), "AUTH_CHATGPT_EXPIRED"),  # 27
    ((500, None, "server_error", "Auth file at /x/auth.json is not valid JSON."),
     "AUTH_CHATGPT_EXPIRED"),
    ((500, None, "server_error", "No completed response found in SSE stream. Last error: {}"),
     "EMPTY_RESPONSE"),
    ((None, "insufficient_quota", None, "You exceeded your current quota"), "RATE_LIMITED"),
    ((None, "context_length_exceeded", None, "Too long"), "INVALID_REQUEST"),
    ((500, None, None, "parsed 512 events"), "UPSTREAM_5XX"),
    ((None, None, None, "parsed 512 events"), "OAUTH_UPSTREAM_ERROR"),  # §19.10 false 5xx
]


@pytest.mark.parametrize("args,expected", STRINGS)
def test_classify_public_failure_strings(args, expected):
    assert classify(*args) == expected


@pytest.mark.parametrize("status,body,code,keeps_message", [
    (400, INVALID_SIZE_400, "INVALID_REQUEST", True),
    (400, TOOL_CHOICE_400, "INVALID_REQUEST", True),
    (400, DETAIL_400, "INVALID_REQUEST", True),
    (400, MODERATION_400, "SAFETY_REFUSAL", True),
    (401, TOKEN_EXPIRED_401, "AUTH_CHATGPT_EXPIRED", True),
    (401, TOKEN_INVALIDATED_401, "AUTH_CHATGPT_EXPIRED", True),
    (429, USAGE_LIMIT_429, "RATE_LIMITED", True),
    (500, FETCH_FAILED_500, "NETWORK_FAILED", False),
    (500, TOKEN_REFRESH_500, "AUTH_CHATGPT_EXPIRED", False),
    (502, BAD_GATEWAY_502, "UPSTREAM_5XX", False),
])
def test_http_bodies(status, body, code, keeps_message):
    err = from_http(status, json.dumps(body).encode(), {})
    assert err.code == code
    upstream_message = body.get("detail") or body["error"]["message"]
    assert (upstream_message in err.message) is keeps_message
    if code == "RATE_LIMITED":
        assert err.retry_after == 13872 and err.retryable is False


def test_5xx_text_is_never_exposed():
    err = from_http(500, b"<html>stack trace /home/x</html>", {})
    assert err.message == "OAuth proxy returned 500" and err.code == "UPSTREAM_5XX"


def test_retry_after_sources():
    assert retry_after_from({"Retry-After": "7"}) == 7
    assert retry_after_from({"X-Codex-Primary-Reset-After-Seconds": "12"}) == 12
    assert retry_after_from(None, {"resets_in_seconds": 30}) == 30
    assert retry_after_from(None, None, "Please try again in 3.233s.") == pytest.approx(3.233)
    assert retry_after_from(None, None, "try again in 20ms") == pytest.approx(0.02)
    assert retry_after_from({}, None, "no hint") is None


def test_stream_error_shapes():
    c1 = from_stream_error({"type": "error", "code": "server_error", "message": "boom",
                            "param": None}, "error", 3)
    assert (c1.code, c1.upstream_code, c1.upstream_type, c1.event_count) == (
        "UPSTREAM_5XX", "server_error", None, 3)
    c2 = from_stream_error({"type": "response.failed", "response": {
        "error": {"code": "rate_limit_exceeded", "message": "try again in 1s"}}},
        "response.failed", 4)
    assert (c2.code, c2.retry_after, c2.retryable) == ("RATE_LIMITED", 1.0, True)
    c3 = from_stream_error({"type": "error", "status": 429, "error": {
        "type": "usage_limit_reached", "message": "The usage limit has been reached",
        "resets_in_seconds": 13872}}, "error", 1)
    assert (c3.code, c3.upstream_type, c3.retryable) == ("RATE_LIMITED", "usage_limit_reached",
                                                         False)


def test_big_event_base64_is_cut_out_without_changing_the_result():
    b64 = "QUJD" * 100000
    raw = json.dumps({"type": "response.output_item.done", "item": {
        "type": "image_generation_call", "status": "generating", "result": b64,
        "revised_prompt": "x"}}).encode()
    data = parse_event_json(bytearray(raw))
    assert isinstance(data["item"]["result"], memoryview)
    assert bytes(data["item"]["result"]) == b64.encode()
    result = ImageResult()
    apply_event(result, data, "message", None, None)
    assert bytes(result.image) == b64.encode() and result.revised_prompt == "x"


def test_run_elider_keeps_json_valid_across_any_split():
    import random

    from ima2_lib.upstream import RunElider

    b64 = "QUJD" * 5000 + "=="
    text = ('event: response.completed\ndata: {"type":"response.completed","response":{'
            '"output":[{"result":"%s","x":"abc"}],"usage":{"total_tokens":5}}}\n\n' % b64).encode()
    rng = random.Random(7)
    for _ in range(100):
        elider, out, pos = RunElider(100), b"", 0
        while pos < len(text):
            size = rng.randint(1, 3000)
            out += elider.filter(text[pos:pos + size])
            pos += size
        event = json.loads(out.decode().split("data: ", 1)[1])
        assert event["response"]["usage"] == {"total_tokens": 5}
        assert b64.startswith(event["response"]["output"][0]["result"])
        assert len(event["response"]["output"][0]["result"]) == 100


def test_non_stream_response_objects_of_the_proxy():
    from ima2_lib.upstream import response_object_result

    failed = response_object_result(json.dumps({
        "id": "r", "status": "failed", "output": [], "usage": None,
        "error": {"code": "rate_limit_exceeded", "message": "Please try again in 2s."}}).encode(),
        "fallback answer")
    assert failed.error.code == "RATE_LIMITED" and failed.error.retry_after == 2
    in_progress = response_object_result(json.dumps({
        "id": "r", "status": "in_progress", "output": [
            {"type": "image_generation_call", "status": "generating", "result": "QUJD"}]})
        .encode(), "fallback answer")
    assert in_progress.has_image and in_progress.error is None  # an image whatever the status
    incomplete = response_object_result(json.dumps({
        "status": "incomplete", "incomplete_details": {"reason": "content_filter"},
        "output": []}).encode(), "x")
    assert not incomplete.has_image and incomplete.incomplete_reason == "content_filter"
    with pytest.raises(Exception) as info:
        response_object_result(b"<html>", "fallback answer")
    assert info.value.code == "OAUTH_UPSTREAM_ERROR"
