"""``python3 ima2.py mcp`` driven by the official MCP Python SDK (a test dependency only).

The SDK spawns the real server over stdio: ``--embedded --offline`` (its own App with the
offline provider) and ``--server URL`` against a live ima2 wired to the fake upstream. The
protocol-error cases write raw frames to the same subprocess, because the SDK cannot send a
malformed one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any, Dict, List

import pytest

from fake_upstream import success
from genkit import FINAL, P0, P1
from helpers import ROOT, base_env, wait_until

mcp = pytest.importorskip("mcp")
anyio = pytest.importorskip("anyio")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

SCRIPT = os.path.join(ROOT, "ima2.py")
TOOL_NAMES = {"generate_image", "edit_image", "list_images", "get_image", "job_status",
              "cancel_job", "list_models", "status"}


def _params(env: Dict[str, str], *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[SCRIPT, "mcp", *args], env=env,
                                 cwd=ROOT)


def _offline_env(tmp: str, **extra: Any) -> Dict[str, str]:
    return base_env(tmp, IMA2_OFFLINE_STEP_MS="20", **extra)


def blob_bytes(result: Any) -> bytes:
    import base64

    return base64.b64decode(result.contents[0].blob)


def _run(coro_fn: Any) -> Any:
    return anyio.run(coro_fn)


def test_offline_generate_progress_get_image_and_resources(tmp: str) -> None:
    env = _offline_env(tmp)
    progress: List[Any] = []

    async def main() -> None:
        async with stdio_client(_params(env, "--embedded", "--offline")) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.protocol_version == "2025-11-25"
                assert init.capabilities.tools is not None
                assert init.capabilities.resources is not None
                assert init.server_info.name == "ima2"
                tools = await session.list_tools()
                assert {t.name for t in tools.tools} == TOOL_NAMES
                for tool in tools.tools:
                    assert tool.input_schema["type"] == "object"
                    assert tool.output_schema is not None

                async def on_progress(value: float, total: Any, message: Any) -> None:
                    progress.append((value, message))

                result = await session.call_tool(
                    "generate_image", {"prompt": "a red fox in the snow", "size": "1024x1024"},
                    progress_callback=on_progress)
                assert not result.is_error, result
                data = result.structured_content
                assert data["ok"] is True and data["provider"] == "offline"
                assert len(data["images"]) == 1
                filename = data["images"][0]["filename"]
                assert filename.endswith(".png")
                messages = [m for _v, m in progress]
                assert any("partial preview" in (m or "") for m in messages), messages
                assert [v for v, _m in progress] == sorted(v for v, _m in progress)

                got = await session.call_tool("get_image", {"filename": filename,
                                                            "include_image": True})
                assert not got.is_error, got
                assert got.structured_content["provider"] == "offline"
                assert got.structured_content["width"] == 1024
                images = [c for c in got.content if c.type == "image"]
                assert images and images[0].mime_type == "image/png"

                listed = await session.call_tool("list_images", {"query": "fox"})
                assert [r["filename"] for r in listed.structured_content["images"]] == [filename]
                none = await session.call_tool("list_images", {"query": "no such words"})
                assert none.structured_content["images"] == []

                resources = await session.list_resources()
                uris = [str(r.uri) for r in resources.resources]
                assert "ima2://image/" + filename in uris
                assert any(u.startswith("ima2://session/") for u in uris)
                blob = await session.read_resource("ima2://image/" + filename)
                assert blob.contents[0].mime_type == "image/png"
                session_uri = [u for u in uris if u.startswith("ima2://session/")][0]
                text = await session.read_resource(session_uri)
                assert json.loads(text.contents[0].text)["session"]["id"]

                edited = await session.call_tool(
                    "edit_image", {"image": filename, "prompt": "make it winter"})
                assert not edited.is_error, edited
                assert edited.structured_content["provider"] == "offline"
                local = os.path.join(tmp, "local.png")
                with open(local, "wb") as handle:
                    handle.write(blob_bytes(blob))
                from_path = await session.call_tool(
                    "edit_image", {"image": local, "prompt": "make it night", "format": "jpeg"})
                assert not from_path.is_error, from_path
                assert from_path.structured_content["images"][0]["filename"].endswith(
                    (".jpeg", ".png"))
                missing = await session.call_tool(
                    "edit_image", {"image": os.path.join(tmp, "nope.png"), "prompt": "x"})
                assert missing.structured_content["code"] == "FILE_NOT_FOUND"
                text_file = os.path.join(tmp, "notes.txt")
                with open(text_file, "w") as handle:
                    handle.write("not an image")
                refused = await session.call_tool("edit_image",
                                                  {"image": text_file, "prompt": "x"})
                assert refused.structured_content["code"] == "INVALID_IMAGE"

                status = await session.call_tool("status", {})
                assert status.structured_content["provider"] == "offline"
                models = await session.call_tool("list_models", {})
                assert "gpt-5.4-mini" in models.structured_content["models"]

    _run(main)


def test_errors_are_tool_results_and_unknown_tool_is_a_protocol_error(tmp: str) -> None:
    env = _offline_env(tmp)

    async def main() -> None:
        async with stdio_client(_params(env, "--embedded", "--offline")) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                refused = await session.call_tool(
                    "generate_image", {"prompt": "a cat [offline:refuse]"})
                assert refused.is_error
                assert refused.structured_content["code"] == "SAFETY_REFUSAL"
                assert "Hint:" in refused.content[0].text
                missing = await session.call_tool("get_image", {"filename": "nope.png"})
                assert missing.is_error
                assert missing.structured_content["code"] == "IMAGE_NOT_FOUND"
                bad = await session.call_tool("generate_image", {"prompt": ""})
                assert bad.is_error
                assert bad.structured_content["code"] == "INVALID_ARGUMENTS"
                with pytest.raises(MCPError) as info:
                    await session.call_tool("no_such_tool", {})
                assert info.value.error.code == -32602
                still = await session.call_tool("list_models", {})  # still serving
                assert not still.is_error

    _run(main)


def test_cancelling_a_call_cancels_the_ima2_job(tmp: str) -> None:
    env = _offline_env(tmp)
    state: Dict[str, Any] = {}

    async def main() -> None:
        async with stdio_client(_params(env, "--embedded", "--offline")) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                first = anyio.Event()

                async def on_progress(value: float, total: Any, message: Any) -> None:
                    if message and "requestId" in message:
                        state["requestId"] = message.split("requestId ", 1)[1].rstrip(")")
                    if message and message.startswith("phase"):
                        first.set()

                async def call() -> None:
                    await session.call_tool(
                        "generate_image", {"prompt": "slow one [offline:slow=3000]"},
                        progress_callback=on_progress)
                    state["finished"] = True

                async with anyio.create_task_group() as group:
                    group.start_soon(call)
                    with anyio.fail_after(60):
                        await first.wait()
                    group.cancel_scope.cancel()
                assert "finished" not in state
                request_id = state["requestId"]
                with anyio.fail_after(60):
                    while True:
                        status = await session.call_tool("job_status",
                                                         {"requestId": request_id})
                        job = status.structured_content["job"] or {}
                        if job.get("status") == "canceled":
                            break
                        await anyio.sleep(0.1)
                listed = await session.call_tool("list_images", {})
                assert listed.structured_content["images"] == []

                # The cancel_job tool, called while another call waits for its job.
                second: Dict[str, Any] = {}
                started = anyio.Event()

                async def on_second(value: float, total: Any, message: Any) -> None:
                    if message and "requestId" in message:
                        second["requestId"] = message.split("requestId ", 1)[1].rstrip(")")
                    if message and message.startswith("phase"):
                        started.set()

                async def slow() -> None:
                    second["result"] = await session.call_tool(
                        "generate_image", {"prompt": "slow two [offline:slow=3000]"},
                        progress_callback=on_second)

                async with anyio.create_task_group() as group:
                    group.start_soon(slow)
                    with anyio.fail_after(60):
                        await started.wait()
                    done = await session.call_tool("cancel_job",
                                                   {"requestId": second["requestId"]})
                    assert done.structured_content == {"ok": True}
                result = second["result"]
                assert result.is_error and result.structured_content["code"] == "CANCELED"

    _run(main)


def test_generate_through_a_server_with_the_fake_upstream(server: Any, fake: Any) -> None:
    fake.script(fake.sse(success(FINAL, partials=[P0, P1])))
    env = base_env(server.tmp)
    progress: List[Any] = []

    async def main() -> None:
        async with stdio_client(_params(env, "--server", server.url)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()

                async def on_progress(value: float, total: Any, message: Any) -> None:
                    progress.append(message)

                result = await session.call_tool(
                    "generate_image", {"prompt": "a red fox", "include_image": True},
                    progress_callback=on_progress)
                assert not result.is_error, result
                data = result.structured_content
                assert data["provider"] == "oauth"
                assert [c.type for c in result.content][:2] == ["text", "image"]
                assert sum(1 for m in progress if "partial preview" in (m or "")) == 2

    _run(main)
    posts = fake.posts()
    assert len(posts) == 1 and posts[0].body["stream"] is True
    assert posts[0].body["tools"][-1]["type"] == "image_generation"


class _RawServer:
    """The MCP server as a bare subprocess: write frames, read lines."""

    def __init__(self, env: Dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, SCRIPT, "mcp", "--embedded", "--offline"],
                                     env=env, cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines: List[Dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(json.loads(raw.decode("utf-8")))

    def send(self, raw: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def answer(self, msg_id: Any) -> Dict[str, Any]:
        return wait_until(lambda: next((m for m in self.lines if m.get("id") == msg_id
                                        and ("result" in m or "error" in m)), None),
                          timeout=60, message="answer %r" % (msg_id,))

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(30)


def test_malformed_frames_get_protocol_errors_and_the_server_keeps_serving(tmp: str) -> None:
    raw = _RawServer(_offline_env(tmp))
    try:
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}).encode())
        assert raw.answer(1)["result"]["protocolVersion"] == "2024-11-05"
        raw.send(b'{"jsonrpc": "2.0", "id": 2, "method": ')  # cut JSON
        parse = wait_until(lambda: next((m for m in raw.lines if m.get("error", {}).get(
            "code") == -32700), None), timeout=30, message="parse error")
        assert parse["id"] is None
        raw.send(b'[1, 2]')
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "no/such"}).encode())
        assert raw.answer(3)["error"]["code"] == -32601
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                             "params": {"name": "nope", "arguments": {}}}).encode())
        assert raw.answer(4)["error"]["code"] == -32602
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping"}).encode())
        assert raw.answer(5)["result"] == {}
        assert any(m.get("error", {}).get("code") == -32600 for m in raw.lines)
    finally:
        assert raw.close() == 0


def test_print_config_names_this_python_and_script(tmp: str) -> None:
    env = base_env(tmp)
    for target in ("claude", "cursor", "vscode", "codex"):
        out = subprocess.run([sys.executable, SCRIPT, "mcp", "--print-config", target,
                              "--embedded"], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert os.path.abspath(SCRIPT) in out.stdout.replace("\\\\", "\\")
        assert json.dumps(os.path.abspath(sys.executable)) in out.stdout
        assert "--embedded" in out.stdout
        if target != "codex":
            body = json.loads(out.stdout.split("\n", 1)[1])
            entry = (body.get("mcpServers") or body.get("servers"))["ima2"]
            assert entry["args"][1:] == ["mcp", "--embedded"]
        else:
            assert "[mcp_servers.ima2]" in out.stdout


def test_embedded_uses_the_server_that_already_owns_the_state_folder(tmp: str) -> None:
    from helpers import ServeProcess

    env = base_env(tmp, IMA2_PORT="0", IMA2_PROVIDER="offline", IMA2_OFFLINE_STEP_MS="0")
    serve = ServeProcess(env)
    try:
        advert = serve.wait_advertised()

        async def main() -> None:
            async with stdio_client(_params(env, "--embedded")) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    status = await session.call_tool("status", {})
                    assert status.structured_content["server"] == advert["backend"]["url"]

        _run(main)
    finally:
        assert serve.stop() == 0
