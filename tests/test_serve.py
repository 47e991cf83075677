"""hscnet serve: the grounding page, run through the real command, driven in headless Chromium like a user
(upload, type, click), and its API's answers to bad uploads and requests."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from browser import BrowserPage, png_size
from test_bad_inputs import small_disk  # noqa: F401 (a 64 KiB tmpfs, as a fixture)
from test_ground import setup  # noqa: F401 (the tiny trained model, glove and video, as a fixture)

from hscnet.cli import main
from hscnet.errors import InputError
from hscnet.ground.serve import GroundingService, TooLarge

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAGRAPH = "The square moves. The dog moves. The child moves."


@pytest.fixture(scope="module")
def server(setup, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """``hscnet serve --port 0`` with a folder of videos to pick; its address, its own temporary folder
    (TMPDIR) and its working folder, both checked empty once it stopped."""
    root, checkpoint, glove, video = setup
    picks = tmp_path_factory.mktemp("picks")
    (picks / "clip.mp4").symlink_to(video)
    temporary, workdir = tmp_path_factory.mktemp("serve-tmp"), tmp_path_factory.mktemp("serve-cwd")
    log = (root / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "hscnet", "serve", "--checkpoint", str(checkpoint), "--glove", str(glove)]
        + ["--videos", str(picks), "--port", "0", "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=workdir,
        env={**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"},
    )
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert first_line and "http://127.0.0.1:" in first_line[0], (
        f"no address printed: {(root / 'serve.log').read_text()}"
    )
    url = first_line[0].split()[2]
    yield url, video
    process.terminate()  # SIGTERM, as a service manager or a cluster stops it
    assert process.wait(timeout=30) != 0
    log.close()
    assert list(temporary.iterdir()) == [], "the server left files in its temporary folder"
    assert list(workdir.iterdir()) == [], "the server wrote into its working folder"


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one HTTP request; an error status is returned, not raised."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers or {}, method=method)) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def raw_request(url: str, method: str, path: str, content_length: str) -> tuple[int, str]:
    """(status, error) of a request that states ``content_length`` and sends no body."""
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest(method, path)
        connection.putheader("Content-Length", content_length)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())["error"]
    finally:
        connection.close()


def error_of(answer) -> str:
    return json.loads(answer[2])["error"]


@pytest.mark.slow
def test_page_grounds_an_uploaded_video_and_a_click_plays_the_sentence(server, tmp_path):
    """Upload a non-video (refused in one line on the page), then the video; type a paragraph; one bar per
    sentence under loaded thumbnails; a click on a sentence's bar seeks the player to its start."""
    url, video = server
    not_a_video = tmp_path / "holiday.mp4"
    matplotlib.image.imsave(not_a_video, np.zeros((48, 64, 3)), format="png")
    with BrowserPage(url) as page:
        assert page.wait_for(
            "document.querySelectorAll('#video-choice option').length > 1"
            " && [...document.querySelectorAll('#video-choice option')].map(o => o.text)"
        ) == [
            "(none)",
            "clip.mp4",
        ]
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
    assert png_size(screenshot)[0] == 1280


def test_bad_uploads_and_requests_get_one_line_errors(server, tmp_path):
    url, video = server
    text = b"not a video at all\n" * 10
    assert error_of(request(url + "api/videos?name=notes.mp4", "PUT", text)).startswith(
        "notes.mp4: not a readable video, truncated or corrupt"
    )
    assert (
        error_of(request(url + "api/videos?name=empty.mp4", "PUT", b"")) == "empty.mp4: video file is empty (0 bytes)"
    )
    # A name with folders is only a name: the upload stays in the server's temporary folder.
    uploaded = request(url + "api/videos?name=../../../escaped.mp4", "PUT", video.read_bytes())
    assert uploaded[0] == 200, uploaded
    entry = json.loads(uploaded[2])
    assert entry["name"] == "escaped.mp4" and abs(entry["duration"] - 6.0) < 1e-6

    ground = url + "api/ground"
    assert error_of(request(ground, "POST", json.dumps({"video": entry["id"], "paragraph": " "}).encode())) == (
        "the paragraph is empty"
    )
    missing = request(ground, "POST", json.dumps({"video": "999", "paragraph": PARAGRAPH}).encode())
    assert missing[0] == 404 and error_of(missing) == "video '999': no such video on this server"

    # Lengths over the limits are refused from the headers alone, before any body is sent.
    assert raw_request(url, "PUT", "/api/videos?name=huge.mp4", str(10**13)) == (
        413,
        "huge.mp4: 9536743 MB; this server takes uploads of at most 2048 MB (hscnet serve --max-upload-mb)",
    )
    status, message = raw_request(url, "POST", "/api/ground", str(10**9))
    assert status == 413 and message.startswith("1000000000 bytes: a grounding request takes at most")
    assert raw_request(url, "POST", "/api/ground", "ten") == (400, "Content-Length 'ten': not a number of bytes")
    for length in ("-5", "\u00b2"):  # a superscript two is a digit to str.isdigit, not to int()
        answer = raw_request(url, "PUT", "/api/videos?name=a.mp4", length)
        assert answer == (400, f"Content-Length {length!r}: not a number of bytes")

    # The player seeks with byte ranges.
    size = video.stat().st_size
    status, headers, body = request(url + f"media/{entry['id']}", headers={"Range": "bytes=10-19"})
    assert (status, headers["Content-Range"], body) == (206, f"bytes 10-19/{size}", video.read_bytes()[10:20])
    assert request(url + f"media/{entry['id']}", headers={"Range": f"bytes={size}-"})[0] == 416


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


def test_an_upload_cut_short_or_filling_the_disk_is_one_line_and_leaves_nothing(small_disk):  # noqa: F811
    service = GroundingService(ground_paragraph=None, workdir=small_disk)
    with pytest.raises(InputError) as cut:
        service.add_upload("short.mp4", io.BytesIO(b"abc"), 10)
    assert service.user_message(cut.value) == "short.mp4: the upload ended after 3 of 10 bytes"
    with pytest.raises(InputError) as full:
        service.add_upload("big.mp4", io.BytesIO(bytes(200_000)), 200_000)
    assert service.user_message(full.value).startswith(f"big.mp4: no space left on the device of {small_disk}")
    assert list((small_disk / "uploads").iterdir()) == []
    assert service.video_list() == []


def test_an_upload_over_the_limit_is_refused_before_it_is_read(tmp_path):
    service = GroundingService(ground_paragraph=None, workdir=tmp_path, max_upload_mb=1)
    body = io.BytesIO(bytes(2**20 + 1))
    with pytest.raises(TooLarge, match=r"^big\.mp4: 1 MB; this server takes uploads of at most 1 MB"):
        service.add_upload("big.mp4", body, 2**20 + 1)
    assert body.tell() == 0 and not (tmp_path / "uploads").exists() and service.video_list() == []
