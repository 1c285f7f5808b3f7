"""remote/client.py against httpx's MockTransport: 429 retried after Retry-After and bounded, refusals in words
naming the server and quoting its message, the key from a file or $HASHWARDEN_KEY only."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import typer
from typer.main import get_command

from hashwarden.cli import app
from hashwarden.config import ENV_KEY, MAX_LOOKUP_REQUEST_VPDQ_FRAMES, MAX_LOOKUP_VPDQ_FRAMES, REMOTE_RETRIES
from hashwarden.errors import RemoteError
from hashwarden.remote import RemoteClient, read_key

SERVER = "http://hw.test:8080"


def client_answering(*responses: httpx.Response, waits: list[float] | None = None) -> tuple[RemoteClient, list]:
    """A client whose server gives `responses` in turn (the last one again after them); the requests it saw."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    waits = waits if waits is not None else []
    return RemoteClient(SERVER, "k3y", transport=httpx.MockTransport(answer), sleep=waits.append), seen


def test_429_waits_retry_after_then_retries() -> None:
    waits: list[float] = []
    client, seen = client_answering(httpx.Response(429, headers={"Retry-After": "3"}, json={"error": "slow"}),
                                    httpx.Response(200, json={"results": []}), waits=waits)
    assert client.post("/v1/lookup", json={"items": []}) == {"results": []}
    assert waits == [3.0] and len(seen) == 2
    assert seen[0].headers["authorization"] == "Bearer k3y"


def test_429_retries_are_bounded() -> None:
    waits: list[float] = []
    client, seen = client_answering(httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "rate limit"}),
                                    waits=waits)
    with pytest.raises(RemoteError, match=r"^http://hw.test:8080 refused POST /v1/lookup: 429 rate limit$"):
        client.post("/v1/lookup", json={"items": []})
    assert len(seen) == REMOTE_RETRIES + 1 and waits == [1.0] * REMOTE_RETRIES


def test_a_retry_after_too_long_to_wait_is_an_error_at_once() -> None:
    waits: list[float] = []
    client, seen = client_answering(httpx.Response(429, headers={"Retry-After": "3600"}, json={"error": "wait"}),
                                    waits=waits)
    with pytest.raises(RemoteError, match="429 wait"):
        client.post("/v1/lookup", json={})
    assert len(seen) == 1 and waits == []


@pytest.mark.parametrize("status", [401, 403, 404, 413, 422])
def test_a_refusal_names_the_server_and_quotes_its_message(status: int) -> None:
    client, seen = client_answering(httpx.Response(status, json={"error": f"no ({status})"}))
    with pytest.raises(RemoteError) as caught:
        client.post("/v1/cases", json={})
    assert str(caught.value) == f"{SERVER} refused POST /v1/cases: {status} no ({status})"
    assert len(seen) == 1  # never retried


def test_a_refusal_without_json_shows_the_start_of_the_body() -> None:
    client, _ = client_answering(httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(RemoteError, match="502 <html>Bad gateway</html>"):
        client.post("/v1/lookup", json={})


def test_the_server_must_be_an_http_url() -> None:
    with pytest.raises(RemoteError, match="http:// or https://"):
        RemoteClient("hw.test:8080", "k")


def test_the_key_comes_from_the_key_file_else_the_environment(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    with pytest.raises(RemoteError, match=r"no API key: set \$HASHWARDEN_KEY or pass --key-file"):
        read_key(None)
    monkeypatch.setenv(ENV_KEY, " from-env\n")
    assert read_key(None) == "from-env"
    (tmp_path / "key").write_text("from-file\n")
    assert read_key(tmp_path / "key") == "from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(RemoteError, match="is empty"):
        read_key(tmp_path / "empty")
    with pytest.raises(RemoteError, match="cannot read the key file"):
        read_key(tmp_path / "missing")


def test_no_remote_command_takes_the_key_as_an_argument() -> None:
    """A key on the command line is visible to every user of the machine (`ps`) and kept in shell history."""
    root = get_command(app)
    remote = root.get_command(typer.Context(root), "remote")  # the root loads its groups when asked (cli/lazy.py)
    for name, command in remote.commands.items():
        options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        assert "--key-file" in options, name
        assert not {opt for opt in options if opt.lstrip("-") in {"key", "api-key", "token", "k"}}, name


def test_the_remote_matcher_sends_hashes_only_and_counts_videos() -> None:
    """Only the API's fields go out (`pdq_quality` as `quality`, with a PDQ only; a video's frames as `vpdq`); a
    line without a hash is not sent and has no match; results come back to their own lines; a video with more
    frames than an item may carry goes by its digests and is counted."""
    from hashwarden.remote import RemoteMatcher

    sent: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        sent.extend(items)
        return httpx.Response(200, json={"results": [{"index": i, "matches": [{"entry": i}]}
                                                     for i in range(len(items))]})

    matcher = RemoteMatcher(RemoteClient(SERVER, "k", transport=httpx.MockTransport(answer)))
    frames = [{"frame": 0, "quality": 90, "pdq": "d" * 64, "timestamp": 0.0}]
    long_video = frames * (MAX_LOOKUP_VPDQ_FRAMES + 1)
    items = [{"md5": "a" * 32, "path": "x", "pdq_quality": 80},
             {"path": "broken", "error": "unreadable"},
             {"pdq": "b" * 64, "pdq_quality": 70, "media": "image"},
             {"sha1": "c" * 40, "vpdq": frames, "media": "video"},
             {"md5": "e" * 32, "vpdq": long_video}]
    assert matcher.match_many(items) == [[{"entry": 0}], [], [{"entry": 1}], [{"entry": 2}], [{"entry": 3}]]
    assert sent == [{"md5": "a" * 32}, {"pdq": "b" * 64, "quality": 70}, {"sha1": "c" * 40, "vpdq": frames},
                    {"md5": "e" * 32}]
    assert matcher.videos_without_vpdq == 1
    assert matcher.match_many([{"path": "nothing"}]) == [[]] and len(sent) == 4  # no request for no hash


def test_frames_past_the_request_bound_go_in_more_requests() -> None:
    """The service refuses a request of more than MAX_LOOKUP_REQUEST_VPDQ_FRAMES frames (422): a batch holding more
    is cut into requests under it, in order, and every line gets its own answer back."""
    from hashwarden.remote import RemoteMatcher

    requests: list[list[dict]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        requests.append(items)
        return httpx.Response(200, json={"results": [{"index": i, "matches": [{"entry": item["md5"]}]}
                                                     for i, item in enumerate(items)]})

    matcher = RemoteMatcher(RemoteClient(SERVER, "k", transport=httpx.MockTransport(answer)))
    frame = {"frame": 0, "quality": 90, "pdq": "d" * 64, "timestamp": 0.0}
    per_video = MAX_LOOKUP_REQUEST_VPDQ_FRAMES // 3 + 1  # three do not fit in one request, two do
    items = [{"md5": f"{i:032x}", "vpdq": [frame] * per_video} for i in range(5)] + [{"md5": "f" * 32}]
    assert matcher.match_many(items) == [[{"entry": item["md5"]}] for item in items]
    assert [len(items) for items in requests] == [2, 2, 2]
    assert all(sum(len(item.get("vpdq", ())) for item in items) <= MAX_LOOKUP_REQUEST_VPDQ_FRAMES
               for items in requests)
    assert matcher.videos_without_vpdq == 0


def test_an_answer_of_another_length_is_an_error() -> None:
    from hashwarden.remote import RemoteMatcher

    client, _ = client_answering(httpx.Response(200, json={"results": []}))
    with pytest.raises(RemoteError, match="answered 1 items with 0 results"):
        RemoteMatcher(client).match_many([{"md5": "a" * 32}])


def test_submit_streams_the_report_from_disk_and_sends_it_whole_again_after_a_429(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`remote submit` reads report.json a block at a time (a national case's is gigabytes) with its size as
    Content-Length (so the server can refuse one over its cap before it is sent), and a retry after 429 sends a
    fresh stream of the file: a consumed one would send nothing the second time."""
    from hashwarden.remote import lookup, submit_case

    monkeypatch.setattr(lookup, "REMOTE_UPLOAD_BLOCK", 7)  # several blocks for a small file
    case = tmp_path / "case"
    case.mkdir()
    body = json.dumps({"case": "C-1", "items": [{"md5": "a" * 32}] * 20}).encode()
    (case / "report.json").write_bytes(body)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read whole"))
    client, seen = client_answering(httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "slow"}),
                                    httpx.Response(201, json={"id": 7}))
    assert submit_case(client, case) == {"id": 7}
    assert [request.content for request in seen] == [body, body]
    assert {request.headers["content-length"] for request in seen} == {str(len(body))}
    assert all("transfer-encoding" not in request.headers for request in seen)
