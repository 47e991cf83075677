"""hscnet serve: the grounding page, run through the real command, driven in headless Chromium like a user
(upload, type, click); over HTTP, what it refuses (other websites, bad uploads and requests) and how it
stays bounded (a queue cap, a stalled upload, finished jobs, a signal during a grounding).

Rows of issue 30 each test covers are named in its docstring."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from browser import BrowserPage, png_size
from test_bad_inputs import small_disk  # noqa: F401 (a 64 KiB tmpfs, as a fixture)
from test_ground import setup  # noqa: F401 (the tiny trained model, glove and video, as a fixture)

from extractors.synthetic import write_video
from hscnet.cli import main
from hscnet.errors import InputError
from hscnet.ground.serve import listening_socket, server_config
from hscnet.ground.service import GroundingService, TooLarge
from hscnet.ground.web import build_app
from hscnet.progress import progress_listener

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAGRAPH = "The square moves. The dog moves. The child moves."


@dataclasses.dataclass
class ServeProcess:
    """A running ``hscnet serve --port 0``: its address, process, log and temporary folder (TMPDIR)."""

    url: str
    process: subprocess.Popen
    log: Path
    temporary: Path

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port


@contextlib.contextmanager
def serve_process(setup, videos: Path, root: Path) -> Iterator[ServeProcess]:  # noqa: F811 (the fixture's value)
    _, checkpoint, glove, _ = setup
    temporary, workdir = root / "tmp", root / "cwd"
    temporary.mkdir()
    workdir.mkdir()
    log = root / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "hscnet", "serve", "--checkpoint", str(checkpoint), "--glove", str(glove)]
            + ["--videos", str(videos), "--port", "0", "--device", "cpu"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=workdir,
            env={**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"},
        )
    try:
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=60)
        assert first_line and "http://127.0.0.1:" in first_line[0], f"no address printed: {log.read_text()}"
        yield ServeProcess(first_line[0].split()[2], process, log, temporary)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert list(workdir.iterdir()) == [], "the server wrote into its working folder"


@pytest.fixture(scope="module")
def picks(setup, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """A --videos folder: a link to the video, a copy that a test deletes, a link to a text file (not listed)."""
    _, _, _, video = setup
    folder = tmp_path_factory.mktemp("picks")
    (folder / "clip.mp4").symlink_to(video)
    (folder / "gone.mp4").write_bytes(video.read_bytes())
    notes = folder.parent / "notes.txt"
    notes.write_text("private notes, not a video\n")
    (folder / "notes.mp4").symlink_to(notes)
    return folder


@pytest.fixture(scope="module")
def server(setup, picks, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """``hscnet serve`` on ``picks``; SIGTERM stops it, and its temporary folder must then be empty."""
    with serve_process(setup, picks, tmp_path_factory.mktemp("serve")) as running:
        yield running
        running.process.terminate()  # SIGTERM, as a service manager or a cluster stops it
        assert running.process.wait(timeout=60) == 128 + signal.SIGTERM
        assert list(running.temporary.iterdir()) == [], "the server left files in its temporary folder"
        assert "Traceback" not in running.log.read_text(), "a request above raised where it should have answered"


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one HTTP request; an error status is returned, not raised."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers or {}, method=method)) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def post_json(url: str, value, headers: dict | None = None, raw: bytes | None = None):
    body = json.dumps(value).encode() if raw is None else raw
    return request(url, "POST", body, {"Content-Type": "application/json", **(headers or {})})


def raw_request(url: str, method: str, path: str, content_length: str) -> tuple[int, str]:
    """(status, body) of a JSON request that states ``content_length`` and sends no body."""
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest(method, path)
        connection.putheader("Content-Length", content_length)
        connection.putheader("Content-Type", "application/json")
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def error_of(answer) -> str:
    assert answer[1]["Content-Type"] == "application/json", answer
    return json.loads(answer[2])["error"]


def job_result(url: str, job: str, timeout: float = 120) -> dict:
    """The job's status once it ended."""
    deadline = time.monotonic() + timeout
    while (status := json.loads(request(f"{url}api/jobs/{job}")[2]))["state"] not in ("done", "error"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return status


def video_ids(url: str) -> dict[str, str]:
    """name -> id of the videos the server lists."""
    status, _, body = request(url + "api/videos")
    assert status == 200
    return {entry["name"]: entry["id"] for entry in json.loads(body)}


@pytest.mark.slow
def test_page_grounds_an_uploaded_video_and_a_click_plays_the_sentence(server, setup, tmp_path):  # noqa: F811
    """Upload a non-video (refused in one line on the page), then the video; type a paragraph; one bar per
    sentence under loaded thumbnails; a click on a sentence's bar seeks the player to its start. The page's
    Content-Security-Policy blocks a script injected into it (row 3)."""
    url, video = server.url, setup[3]
    not_a_video = tmp_path / "holiday.mp4"
    matplotlib.image.imsave(not_a_video, np.zeros((48, 64, 3)), format="png")
    with BrowserPage(url) as page:
        names = page.wait_for(
            "document.querySelectorAll('#video-choice option').length > 1"
            " && [...document.querySelectorAll('#video-choice option')].map(o => o.text)"
        )
        assert names[:3] == ["(none)", "clip.mp4", "gone.mp4"]  # then the uploads of tests run before
        # Picking a listed video (as choosing an option does: the value, then a change event) loads it in the player.
        page.evaluate("$('video-choice').value = '1'; $('video-choice').dispatchEvent(new Event('change'))")
        assert page.wait_for("$('player').readyState >= 1 && $('player').duration") == pytest.approx(6.0, abs=0.05)

        page.choose_file("#upload", not_a_video)
        shown = page.wait_for("document.documentElement.dataset.state === 'error' && $('status').textContent")
        assert shown == "holiday.mp4: an image (png), not a video; give a video file"

        page.choose_file("#upload", video)
        page.wait_for("document.documentElement.dataset.state === 'ready' && $('player').readyState >= 1")
        page.type_into("#paragraph", PARAGRAPH)
        page.click("#ground")
        done = page.wait_for("document.documentElement.dataset.state !== 'grounding' && $('status').textContent", 120)
        assert done == "3 sentences in 6.00 s; click one to play its span.", done
        bars = page.evaluate(
            "[...document.querySelectorAll('.bar.sentence')].map(b => [+b.dataset.start, +b.dataset.end])"
        )
        assert len(bars) == 3 and all(0 <= start <= end <= 6.0 for start, end in bars), bars
        assert page.evaluate("document.querySelectorAll('.bar.paragraph').length") == 1
        assert page.wait_for("$('thumbnails').complete && $('thumbnails').naturalWidth") > 0
        assert page.evaluate("$('sentences').innerText").splitlines()[1].startswith("The dog moves.")

        page.evaluate(
            "window.seeks = []; $('player').addEventListener('seeked', () => seeks.push($('player').currentTime))"
        )
        page.click(".row:nth-child(3) .bar.sentence")  # the second sentence (row 1 is the paragraph's)
        seeked = page.wait_for("seeks.length && [seeks[0]]", 20)[0]
        assert abs(seeked - bars[1][0]) <= 0.1, (seeked, bars[1])  # within a frame (10 fps)
        assert page.evaluate("document.querySelector('.bar.playing').textContent").startswith("S2 ")
        screenshot = page.screenshot(tmp_path / "serve.png")
        assert page.console == [], page.console

        page.evaluate(
            "window.violations = [];"
            " document.addEventListener('securitypolicyviolation', (e) => violations.push(e.effectiveDirective));"
            " const injected = document.createElement('script'); injected.textContent = 'window.injected = 1';"
            " document.body.append(injected)"
        )
        assert page.wait_for("violations.length && violations") == ["script-src-elem"]
        assert page.evaluate("window.injected === undefined")
    assert png_size(screenshot)[0] == 1280


def test_a_foreign_host_or_origin_and_a_text_plain_post_are_refused(server):
    """Rows 1 and 2: a web page whose name resolves to 127.0.0.1 (DNS rebinding) sends its own Host; any page
    can POST text/plain with its Origin. Each gets 403, before any route; the page's own requests pass."""
    url, port = server.url, server.port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1", f"127.0.0.2:{port}"):
        for path in ("", "api/videos", "media/1", "api/jobs/1"):
            answer = request(url + path, headers={"Host": host})
            assert answer[0] == 403 and error_of(answer).startswith(f"Host {host!r}: this server answers its own page")
    for host in (f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        assert request(url + "api/videos", headers={"Host": host})[0] == 200

    ground = url + "api/ground"
    body = json.dumps({"video": "999", "paragraph": PARAGRAPH}).encode()  # past the checks: 404, nothing queued
    refused = {
        "Origin": [
            {"Content-Type": "text/plain", "Origin": "http://evil.example"},  # row 2 as found
            {"Content-Type": "application/json", "Origin": "http://evil.example"},
            {"Content-Type": "application/json", "Origin": "null"},
            {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port + 1}"},
        ],
        "Content-Type": [
            {"Content-Type": "text/plain"},
            {"Content-Type": "application/x-www-form-urlencoded"},
            {"Content-Type": "multipart/form-data; boundary=x"},
        ],
    }
    for what, cases in refused.items():
        for headers in cases:
            answer = request(ground, "POST", body, headers)
            assert answer[0] == 403 and error_of(answer).startswith(what), (headers, answer)
    for own in ({"Origin": url.rstrip("/")}, {"Content-Type": "application/json; charset=utf-8"}, {}):
        assert post_json(ground, None, own, raw=body)[0] == 404, own
    upload = request(url + "api/videos?name=a.mp4", "PUT", b"x", {"Origin": "http://evil.example"})
    assert upload[0] == 403 and error_of(upload).startswith("Origin 'http://evil.example'")


def mp4_with_a_script(video: Path) -> bytes:
    """The video with a trailing top-level atom holding HTML: a browser that sniffs could run it as a page."""
    payload = b"<html><script>document.title = 'ran'</script></html>"
    return video.read_bytes() + struct.pack(">I", 8 + len(payload)) + b"free" + payload


def test_uploads_need_a_video_name_and_media_are_served_as_video(server, setup):  # noqa: F811
    """Rows 3, 4 and 5: an HTML name, a null byte, a 300-character name get 400 and one line, and the server
    answers the next request; a video is served as video/mp4 with nosniff, whatever its bytes hold."""
    url, body = server.url, mp4_with_a_script(setup[3])
    bad_names = {
        "evil.html": "evil.html: not a video file name; give one ending in .mp4, .m4v, .mov",
        "bad%00name.mp4": "upload 'bad\\x00name.mp4': a file name holds no control character",
        "a" * 296 + ".mp4": f"upload {'a' * 40}...: a name of 300 bytes; uploads take names of at most 200 bytes",
        "notes": "notes: not a video file name",
    }
    for name, message in bad_names.items():
        answer = request(f"{url}api/videos?name={name}", "PUT", body)
        assert answer[0] == 400 and error_of(answer).startswith(message), answer
        assert request(url + "api/videos")[0] == 200

    uploaded = request(url + "api/videos?name=trailing.mp4", "PUT", body)
    assert uploaded[0] == 200, uploaded
    status, headers, served = request(f"{url}media/{json.loads(uploaded[2])['id']}")
    assert (status, headers["Content-Type"], headers["X-Content-Type-Options"], served) == (
        200,
        "video/mp4",
        "nosniff",
        body,
    )
    page = request(url)
    assert "script-src 'self'" in page[1]["Content-Security-Policy"] and b"<script>" not in page[2]


def test_bad_grounding_requests_get_one_line_each(server):
    """Rows 6 and 8: deeply nested JSON, a paragraph that is neither a text nor a list of texts; 400 with one
    line, and the server goes on."""
    url = server.url
    ground, clip = url + "api/ground", video_ids(url)["clip.mp4"]
    cases = [
        (b"[" * 200_000, "the request's JSON is nested too deeply"),
        (b'{"video": "1", "paragraph": "x"', "the request is not JSON: Expecting ',' delimiter"),
        (b"\xff\xfe\xfa", "the request is not JSON"),
        (b"[1]", 'the request must be a JSON object: {"video": ID, "paragraph": TEXT or [SENTENCE, ...]}'),
        ({"video": 1, "paragraph": "x"}, '"video" is a number; give a video id (a string) from GET /api/videos'),
        ({"video": clip, "paragraph": 5}, '"paragraph" is a number; give a text or a list of sentences'),
        ({"video": clip, "paragraph": None}, '"paragraph" is null; give a text or a list of sentences'),
        ({"video": clip, "paragraph": [5, "x"]}, '"paragraph": sentence 1 is a number, not a text'),
        ({"video": clip, "paragraph": ["x", None]}, '"paragraph": sentence 2 is null, not a text'),
        ({"video": clip, "paragraph": []}, "the paragraph is empty"),
        ({"video": clip, "paragraph": " "}, "the paragraph is empty"),
    ]
    for value, message in cases:
        answer = post_json(ground, value, raw=value if isinstance(value, bytes) else None)
        assert answer[0] == 400 and error_of(answer).startswith(message), (value[:40], answer)
        assert request(url + "api/videos")[0] == 200
    missing = post_json(ground, {"video": "999", "paragraph": PARAGRAPH})
    assert missing[0] == 404 and error_of(missing) == "video '999': no such video on this server"


@pytest.mark.slow
def test_a_paragraph_given_as_a_list_is_grounded_as_its_sentences(server):
    """Row 8: a JSON list is the paragraph's sentences, as the Python API reads it, not one text."""
    sentences = ["The dog moves.", "The child moves. The square moves."]
    accepted = post_json(
        server.url + "api/ground", {"video": video_ids(server.url)["clip.mp4"], "paragraph": sentences}
    )
    assert accepted[0] == 202, accepted
    status = job_result(server.url, json.loads(accepted[2])["job"])
    assert status["state"] == "done", status
    assert status["result"]["sentences"] == sentences and len(status["result"]["spans"]) == 2


def test_a_listed_video_deleted_after_start_is_a_404_and_a_link_to_a_non_video_is_not_listed(server, picks):
    """Row 7, and the minor item of a link in --videos to a file that is no video."""
    url = server.url
    listed = video_ids(url)
    assert {"clip.mp4", "gone.mp4"} <= set(listed) and "notes.mp4" not in listed  # a link to notes.txt
    (picks / "gone.mp4").unlink()
    answer = request(f"{url}media/{listed['gone.mp4']}")
    assert (
        answer[0] == 404
        and error_of(answer) == "gone.mp4: the file is gone from the server (No such file or directory)"
    )
    assert request(f"{url}media/{listed['clip.mp4']}", headers={"Range": "bytes=0-9"})[0] == 206


def test_lengths_ranges_and_unknown_addresses(server, setup):  # noqa: F811
    url, video = server.url, setup[3]
    # Lengths over the limits are refused from the headers alone, before any body is sent.
    status, body = raw_request(url, "PUT", "/api/videos?name=huge.mp4", str(10**13))
    assert (status, json.loads(body)["error"]) == (
        413,
        "huge.mp4: 9536743 MB; this server takes uploads of at most 2048 MB (hscnet serve --max-upload-mb)",
    )
    status, body = raw_request(url, "POST", "/api/ground", str(10**9))
    assert status == 413 and json.loads(body)["error"].startswith("1000000000 bytes: a grounding request takes")
    for length in ("ten", "-5", "\u00b2"):  # uvicorn (h11) answers a malformed request line or header itself
        status, body = raw_request(url, "PUT", "/api/videos?name=a.mp4", length)
        assert status == 400 and body == "Invalid HTTP request received.", (length, status, body)
    empty = request(url + "api/videos?name=empty.mp4", "PUT", b"")
    assert empty[0] == 400 and error_of(empty) == "empty.mp4: video file is empty (0 bytes)"
    notes = request(url + "api/videos?name=notes.mp4", "PUT", b"not a video at all\n" * 10)
    assert error_of(notes).startswith("notes.mp4: not a readable video, truncated or corrupt")
    # A name with folders is only a name: the upload stays in the server's temporary folder.
    uploaded = request(url + "api/videos?name=../../../escaped.mp4", "PUT", video.read_bytes())
    entry = json.loads(uploaded[2])
    assert entry["name"] == "escaped.mp4" and abs(entry["duration"] - 6.0) < 1e-6

    # The player seeks with byte ranges.
    size = video.stat().st_size
    status, headers, body = request(url + f"media/{entry['id']}", headers={"Range": "bytes=10-19"})
    assert (status, headers["Content-Range"], body) == (206, f"bytes 10-19/{size}", video.read_bytes()[10:20])
    assert request(url + f"media/{entry['id']}", headers={"Range": f"bytes={size}-"})[0] == 416
    unknown = {
        "nothing": "/nothing: no such page",
        "media/..": "video '..': no such video on this server",
        "media/%2e%2e%2fetc": "/media/../etc: no such page",
    }
    for path, message in unknown.items():
        answer = request(url + path)
        assert (answer[0], error_of(answer)) == (404, message)
    answer = request(url + "api/videos", "DELETE", headers={"Content-Type": "application/json"})
    assert answer[0] == 405 and error_of(answer) == "DELETE /api/videos: not allowed"


@pytest.mark.slow
def test_groundings_past_the_queue_cap_get_503(server, tmp_path):
    """The minor item of a thread per job with no cap: one grounding runs, 4 wait, a further one gets 503."""
    url = server.url
    fresh = tmp_path / "fresh.mp4"
    write_video(fresh, num_frames=70, fps=10)  # another video: its features are made anew, which takes seconds
    uploaded = request(url + "api/videos?name=fresh.mp4", "PUT", fresh.read_bytes())
    video = json.loads(uploaded[2])["id"]
    answers = [post_json(url + "api/ground", {"video": video, "paragraph": PARAGRAPH}) for _ in range(8)]
    statuses = [answer[0] for answer in answers]
    accepted = statuses.count(202)
    assert accepted in (4, 5) and statuses == [202] * accepted + [503] * (8 - accepted), statuses
    assert error_of(answers[-1]) == "4 groundings already wait for the model; try again when one is done"
    assert answers[-1][1]["Retry-After"] == "10"
    for answer in answers[:accepted]:
        assert job_result(url, json.loads(answer[2])["job"])["state"] == "done"


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_grounding_exits_cleanly_and_removes_the_temporary_folder(setup, picks, tmp_path, sent):  # noqa: F811
    """The minor item of SIGTERM during a grounding ending in SIGABRT ('terminate called without an active
    exception'): the worker thread ends before the interpreter does."""
    with serve_process(setup, picks, tmp_path) as running:
        accepted = post_json(
            running.url + "api/ground", {"video": video_ids(running.url)["clip.mp4"], "paragraph": PARAGRAPH}
        )
        job = json.loads(accepted[2])["job"]
        while json.loads(request(f"{running.url}api/jobs/{job}")[2])["state"] == "waiting":
            time.sleep(0.05)
        running.process.send_signal(sent)
        code = running.process.wait(timeout=120)
        log = running.log.read_text()
        assert code == (128 + signal.SIGTERM if sent == signal.SIGTERM else 0), log[-3000:]
        assert "terminate called" not in log and "Traceback" not in log, log[-3000:]
        assert list(running.temporary.iterdir()) == []


# --------------------------------------------------------------- the app in this process, with a stand-in model


@dataclasses.dataclass
class StandInGrounding:
    duration: float
    sentences: list
    spans: list
    paragraph_span: tuple | None = None


def stand_in_ground(video: Path, sentences) -> StandInGrounding:
    return StandInGrounding(6.0, list(sentences), [(1.0, 2.0)] * len(sentences))


@contextlib.contextmanager
def app_server(service: GroundingService) -> Iterator[str]:
    """The page's app over ``service`` under uvicorn in a thread of this process; its address."""
    import uvicorn

    listening = listening_socket(0)
    port = listening.getsockname()[1]
    server = uvicorn.Server(server_config(build_app(service, port)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]})
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()


def test_finished_jobs_are_pruned(setup, tmp_path):  # noqa: F811
    """The minor item of jobs that are never forgotten: only the newest finished ones are kept."""
    picks = tmp_path / "picks"
    picks.mkdir()
    (picks / "clip.mp4").symlink_to(setup[3])
    service = GroundingService(stand_in_ground, tmp_path, picks, keep_finished=2)
    with app_server(service) as url:
        jobs = []
        for _ in range(4):
            accepted = post_json(url + "api/ground", {"video": "1", "paragraph": ["The dog moves."]})
            jobs.append(json.loads(accepted[2])["job"])
            assert job_result(url, jobs[-1])["state"] == "done"
        assert [request(f"{url}api/jobs/{job}")[0] for job in jobs] == [404, 404, 200, 200]
        assert request(f"{url}api/jobs/{jobs[-1]}/thumbnails.png")[1]["Content-Type"] == "image/png"


def stalled_answer(url: str, request_line: str, headers: str) -> tuple[float, str]:
    """(seconds until the server answered, the answer) of a request that sends 10 of its 1000 bytes, then waits."""
    address = urllib.parse.urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as client:
        head = f"{request_line} HTTP/1.1\r\nHost: {address.netloc}\r\n{headers}Content-Length: 1000\r\n\r\n"
        client.sendall(head.encode() + bytes(10))
        started = time.monotonic()
        answer = b"".join(iter(lambda: client.recv(65536), b"")).decode()  # until the server closes
    return time.monotonic() - started, answer


def test_a_stalled_upload_or_request_is_dropped(tmp_path):
    """The minor item of an upload that stalls holding its thread forever: 408 after the stall, nothing kept."""
    service = GroundingService(stand_in_ground, tmp_path, upload_stall_s=1)
    with app_server(service) as url:
        waited, answer = stalled_answer(url, "PUT /api/videos?name=slow.mp4", "")
        assert 1 <= waited < 10 and answer.startswith("HTTP/1.1 408 "), answer
        assert answer.endswith('{"error":"slow.mp4: the upload stalled (nothing for 1 s after 10 bytes)"}'), answer
        assert list((tmp_path / "uploads").iterdir()) == [] and service.video_list() == []
        waited, answer = stalled_answer(url, "POST /api/ground", "Content-Type: application/json\r\n")
        assert 1 <= waited < 10 and answer.startswith("HTTP/1.1 408 "), answer
        assert answer.endswith('{"error":"the grounding request stalled (not all sent after 1 s)"}'), answer


def test_an_unexpected_error_is_a_500_of_one_line_and_the_server_goes_on(tmp_path, caplog):
    service = GroundingService(stand_in_ground, tmp_path)
    with app_server(service) as url:
        list_videos = service.video_list
        service.video_list = lambda: {}["a bug"]
        answer = request(url + "api/videos")
        assert (answer[0], error_of(answer)) == (500, "unexpected KeyError: 'a bug' (traceback in the server's log)")
        deadline = time.monotonic() + 10  # uvicorn logs it once the answer is sent
        while not any(record.exc_info and record.exc_info[0] is KeyError for record in caplog.records):
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
        service.video_list = list_videos
        assert request(url + "api/videos")[0] == 200


# ----------------------------------------------------------------------------- the service alone


def test_serve_refuses_what_every_grounding_would_before_listening(setup, tmp_path, caplog):  # noqa: F811
    _, checkpoint, glove, _ = setup
    missing = tmp_path / "best.pt"
    assert main(["serve", "--checkpoint", str(missing), "--glove", str(glove), "--port", "0"]) == 1
    assert f"{missing}: checkpoint not found" in caplog.text
    caplog.clear()
    weights = tmp_path / "c3d.pickle"
    weights.write_bytes(b"weights")
    argv = ["serve", "--checkpoint", str(checkpoint), "--glove", str(glove), "--c3d-weights", str(weights)]
    assert main([*argv, "--port", "0"]) == 1
    assert f"drop --weights {weights}" in caplog.text
    caplog.clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--checkpoint", str(checkpoint), "--glove", str(glove), "--port", str(port)]) == 1
    assert f"--port {port}: already in use on 127.0.0.1" in caplog.text


async def chunks_of(body: bytes):
    yield body


def test_an_upload_cut_short_or_filling_the_disk_is_one_line_and_leaves_nothing(small_disk):  # noqa: F811
    service = GroundingService(ground_paragraph=None, workdir=small_disk)
    with pytest.raises(InputError) as cut:
        asyncio.run(service.add_upload("short.mp4", chunks_of(b"abc"), 10))
    assert service.user_message(cut.value) == "short.mp4: the upload ended after 3 of 10 bytes"
    with pytest.raises(InputError) as full:
        asyncio.run(service.add_upload("big.mp4", chunks_of(bytes(200_000)), 200_000))
    assert service.user_message(full.value).startswith(f"big.mp4: no space left on the device of {small_disk}")
    assert list((small_disk / "uploads").iterdir()) == []
    assert service.video_list() == []


def test_an_upload_over_the_limit_is_refused_before_it_is_read(tmp_path):
    service = GroundingService(ground_paragraph=None, workdir=tmp_path, max_upload_mb=1)
    body = io.BytesIO(bytes(2**20 + 1))

    async def chunks():
        yield body.read()

    with pytest.raises(TooLarge, match=r"^big\.mp4: 1 MB; this server takes uploads of at most 1 MB"):
        asyncio.run(service.add_upload("big.mp4", chunks(), 2**20 + 1))
    assert body.tell() == 0 and not (tmp_path / "uploads").exists() and service.video_list() == []


def test_stopping_ends_the_grounding_under_way_at_its_next_progress_report(setup, tmp_path):  # noqa: F811
    """The worker hears the stop through the progress bars, so it leaves torch before the interpreter exits."""
    reporting = threading.Event()

    def endless(video: Path, sentences) -> None:
        report = progress_listener.get()
        reporting.set()
        for clip in range(10**9):
            report("clip.mp4", clip, None)
            time.sleep(0.01)

    picks = tmp_path / "picks"
    picks.mkdir()
    (picks / "clip.mp4").symlink_to(setup[3])
    service = GroundingService(endless, tmp_path, picks)
    service.start()
    job = service.job(service.submit("1", ["The dog moves."]))
    assert reporting.wait(timeout=30)
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 5
    assert (job.state, job.error) == ("error", "the server stopped before this grounding ended")
