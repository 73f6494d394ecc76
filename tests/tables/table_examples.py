"""Rows written like the examples of shared/codex-api.md."""

from __future__ import annotations

from datetime import UTC, date, datetime

DAY_1 = date(2025, 11, 1)
START_1 = 1761955200  # 2025-11-01T00:00:00Z
LOADED_AT = datetime(2025, 11, 5, 6, 30, tzinfo=UTC)

USAGE_ROW = {
    "object": "codex.usage",
    "start_time": START_1,
    "end_time": START_1 + 86400,
    "user_id": "user-abc",
    "actor": {"type": "ACCOUNT_USER", "user_id": "user-abc", "email": "a@example.com"},
    "totals": {"threads": 3, "turns": 20, "credits": 12.5, "cost_usd": 0.0, "estimated_cost_usd": 0.5},
    "clients": [
        {
            "client_id": "CODEX_CLI",
            "threads": 2,
            "turns": 15,
            "credits": 10.0,
            "uncached_text_input_tokens": 1200,
            "cached_text_input_tokens": 800,
            "text_output_tokens": 300,
            "text_total_tokens": 2300,
        }
    ],
    "models": [{"model": "gpt-5.2-codex", "speed": "standard", "credits": 10.0}],
    "code_attribution": {"lines_added": 120, "lines_removed": 4},
}

CODE_REVIEW_ROW = {
    "object": "codex.code_review",
    "start_time": START_1,
    "end_time": START_1 + 86400,
    "pull_request_reviews": 7,
    "comments": 11,
    "comment_details": {"p0": 1, "p1": 4, "p2": 6},
}

RESPONSE_ROW = {
    "object": "codex.code_review_response",
    "start_time": START_1,
    "end_time": START_1 + 86400,
    "pull_request_reviews": 5,
    "comments": 9,
    "replies": 3,
    "reactions": 6,
    "reaction_details": {"upvotes": 4, "downvotes": 1, "other": 1},
    "comment_response_details": {
        "engaged": 7,
        "reacted": 5,
        "upvoted": 4,
        "downvoted": 1,
        "reacted_other": 1,
        "replied": 3,
    },
}

SECRET_PROMPT = "please fix AKIA-SECRET-KEY in deploy.py"
SECRET_RESPONSE = "here is the patch for AKIA-SECRET-KEY"
SECRET_TOOL = "rm -rf /tmp/AKIA-SECRET-KEY"

CODEX_LOG_RECORD = {
    "event_id": "evt_1",
    "type": "CODEX_LOG",
    "timestamp": "2025-11-01T23:59:59.5Z",
    "principal": {"id": "user-abc", "type": "USER"},
    "actor": {"type": "ACCOUNT_USER", "user_id": "user-abc", "user_email": "a@example.com"},
    "request_metadata": {"client_ip": "203.0.113.7", "client_user_agent": "codex-cli/1.0"},
    "event_type": "PROMPT_SENT",
    "client_id": "CODEX_CLI",
    "event_details": {
        "session_id": "sess_1",
        "model": "gpt-5.2-codex",
        "token_usage": {
            "input_tokens": 100,
            "output_tokens": None,
            "cached_input_tokens": 20,
            "reasoning_output_tokens": 5,
        },
        "decision": "approved",
    },
    "prompt_text": SECRET_PROMPT,
    "response_text": SECRET_RESPONSE,
    "tool_input": SECRET_TOOL,
}
