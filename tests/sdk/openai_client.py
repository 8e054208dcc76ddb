"""The official OpenAI Python SDK as a client of a Policy Gateway data plane.

Run by the end-to-end test `sdk::the_openai_python_sdk_works_against_a_data_plane` with the
interpreter named by E2E_PYTHON. Reads its settings from the environment, makes the calls
an application would make (only `base_url` changed), and prints one JSON object with what
it observed; the Rust test asserts on it. Any SDK exception that was not expected fails
the script (non-zero exit, traceback on stderr).
"""

import json
import os
import sys

import openai
from openai import OpenAI


def client(base_url, key):
    # No retries: a retried request would hide a gateway error from the test.
    return OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=20)


def observe(base_url, key, refuse_key, secret_model):
    out = {}
    sdk = client(base_url, key)

    raw = sdk.chat.completions.with_raw_response.create(
        model="echo",
        messages=[{"role": "user", "content": "What is your refund policy?"}],
        extra_body={"policy_user": "Sdk User"},
        extra_headers={"X-Request-Id": "sdk-request-1"},
    )
    completion = raw.parse()
    out["json"] = {
        "content": completion.choices[0].message.content,
        "finish_reason": completion.choices[0].finish_reason,
        "usage": completion.usage.model_dump() if completion.usage else None,
        "policy": (completion.model_extra or {}).get("policy"),
        "decision_header": raw.headers.get("x-policy-decision"),
        "request_id_header": raw.headers.get("x-request-id"),
    }

    content, finish, policy, chunks, usage = "", None, None, 0, None
    stream = sdk.chat.completions.create(
        model=secret_model,
        messages=[{"role": "user", "content": "What is your refund policy?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        if choice.finish_reason is not None:
            finish = choice.finish_reason
            policy = (chunk.model_extra or {}).get("policy")
    out["stream"] = {
        "content": content,
        "finish_reason": finish,
        "policy": policy,
        "chunks": chunks,
        "usage": usage,
    }

    refused = client(base_url, refuse_key).chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "Share our internal incident response steps."}],
    )
    out["refused"] = {
        "finish_reason": refused.choices[0].finish_reason,
        "refusal": refused.choices[0].message.refusal,
        "policy": (refused.model_extra or {}).get("policy"),
    }

    content, finish = "", None
    for chunk in client(base_url, refuse_key).chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "Share our internal incident response steps."}],
        stream=True,
    ):
        choice = chunk.choices[0]
        content += choice.delta.content or choice.delta.refusal or ""
        finish = choice.finish_reason or finish
    out["refused_stream"] = {"finish_reason": finish, "text": content}

    errors = {}
    try:
        client(base_url, "ak_" + "A" * 43).chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hi"}]
        )
    except openai.AuthenticationError as error:
        errors["unknown_key"] = {"status": error.status_code, "code": error.code}
    try:
        sdk.chat.completions.create(model="echo", messages="not a list")
    except openai.BadRequestError as error:
        errors["bad_messages"] = {"status": error.status_code, "code": error.code}
    out["errors"] = errors

    out["models"] = [m.id for m in sdk.models.list()]
    return out


def main():
    results = {
        "sdk_version": openai.__version__,
        "nodes": [
            observe(
                base_url,
                os.environ["E2E_KEY"],
                os.environ["E2E_REFUSE_KEY"],
                os.environ["E2E_SECRET_MODEL"],
            )
            for base_url in os.environ["E2E_BASE_URLS"].split(",")
        ],
    }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
