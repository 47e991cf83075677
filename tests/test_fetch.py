"""`hscnet fetch` against an HTTP server on 127.0.0.1 that serves ../shared/data (never beyond the loopback)."""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import sys
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

from hscnet.cli import main
from hscnet.fetch import fetch, place_by_hand

SHARED_SUMS = {  # from ../shared/data/README.md
    "prvg/tacos_val.npy": "e79e9868867a853307737d23952503f25d63f56ae2348383faed4d16b5a3b099",
    "prvg/tacos_train.npy": "d289656a33f6cd0e678125347e544a55ef803ceb1dd73e958a9f1575347239a7",
}


class _Server(ThreadingHTTPServer):
    """Serves a folder with single-range requests; records each request; can drop a file's connection once."""

    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.drop_once: set[str] = set()  # paths whose next response stops halfway
        self.ranges = True  # False: answer every request with the whole file, like a server without ranges


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        server: _Server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        file = server.root / self.path.lstrip("/")
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and server.ranges:
            start = int(match[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in server.drop_once:
            server.drop_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the client sees the connection end mid-file
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def serve():
    servers = []

    def start(root: Path) -> tuple[_Server, str]:
        server = _Server(root)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fresh_fetch(tmp_path, shared_data, serve, caplog):
    server, base = serve(shared_data)
    target = tmp_path / "data" / "tacos" / "prvg" / "val.npy"
    with caplog.at_level(logging.INFO, logger="hscnet.fetch"):
        fetch(target, f"{base}/prvg/tacos_val.npy", sha256=SHARED_SUMS["prvg/tacos_val.npy"])
    assert target.read_bytes() == (shared_data / "prvg" / "tacos_val.npy").read_bytes()
    assert not target.with_name("val.npy.part").exists()
    assert server.requests == [("/prvg/tacos_val.npy", None)]
    assert re.search(r"val\.npy: .* of .* \(100%\)", caplog.text)  # a readable progress line off a terminal

    # a file already at its path with the right checksum is used as is: no request
    fetch(target, f"{base}/prvg/tacos_val.npy", sha256=SHARED_SUMS["prvg/tacos_val.npy"])
    assert len(server.requests) == 1


def test_a_dropped_connection_resumes_with_a_range_request(tmp_path, shared_data, serve):
    server, base = serve(shared_data)
    server.drop_once.add("/prvg/tacos_train.npy")
    target = tmp_path / "train.npy"
    fetch(target, f"{base}/prvg/tacos_train.npy", sha256=SHARED_SUMS["prvg/tacos_train.npy"])
    full_size = (shared_data / "prvg" / "tacos_train.npy").stat().st_size
    (first, no_range), (second, resume_range) = server.requests
    assert first == second == "/prvg/tacos_train.npy" and no_range is None
    # the second request asks for the rest, from what the first delivered (at most half the file)
    assert 0 < int(re.fullmatch(r"bytes=(\d+)-", resume_range)[1]) <= full_size // 2
    assert _sha256(target) == SHARED_SUMS["prvg/tacos_train.npy"]


def test_a_server_without_ranges_makes_the_download_start_over(tmp_path, shared_data, serve):
    server, base = serve(shared_data)
    server.ranges = False
    server.drop_once.add("/prvg/tacos_train.npy")
    target = tmp_path / "train.npy"
    fetch(target, f"{base}/prvg/tacos_train.npy", sha256=SHARED_SUMS["prvg/tacos_train.npy"])
    assert len(server.requests) == 2 and server.requests[1][1].startswith("bytes=")  # asked, got the whole file
    assert _sha256(target) == SHARED_SUMS["prvg/tacos_train.npy"]


def test_a_failed_run_keeps_the_part_and_the_next_run_resumes(tmp_path, shared_data, serve):
    server, base = serve(shared_data)
    server.drop_once.add("/prvg/tacos_train.npy")
    target = tmp_path / "train.npy"
    url = f"{base}/prvg/tacos_train.npy"
    with pytest.raises(
        ValueError, match=rf"{target}: could not download {url} .*bytes are kept in .*run again to resume"
    ):
        fetch(target, url, sha256=SHARED_SUMS["prvg/tacos_train.npy"], attempts=1)
    part = tmp_path / "train.npy.part"
    kept = part.stat().st_size
    assert not target.exists() and kept > 0
    assert main(["fetch", "--url", url, "--sha256", SHARED_SUMS["prvg/tacos_train.npy"], "--output", str(target)]) == 0
    assert server.requests[-1] == ("/prvg/tacos_train.npy", f"bytes={kept}-")
    assert _sha256(target) == SHARED_SUMS["prvg/tacos_train.npy"] and not part.exists()


def test_a_checksum_mismatch_leaves_nothing_at_the_final_path(tmp_path, shared_data, serve):
    _, base = serve(shared_data)
    target = tmp_path / "val.npy"
    wrong = "0" * 64
    url = f"{base}/prvg/tacos_val.npy"
    with pytest.raises(
        ValueError,
        match=rf"{target}: the file downloaded from {url} has sha256 "
        rf"{SHARED_SUMS['prvg/tacos_val.npy']}, expected {wrong}.*by hand",
    ):
        fetch(target, url, sha256=wrong)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a .part
    with pytest.raises(ValueError, match=r"is 384270 bytes, expected 1000"):
        fetch(target, url, size=1000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kept", ["stale", "oversized"])
def test_bytes_kept_from_another_file_are_downloaded_again_not_blamed_on_the_address(
    tmp_path, shared_data, serve, caplog, kept
):
    server, base = serve(shared_data)
    target = tmp_path / "val.npy"
    source = (shared_data / "prvg" / "tacos_val.npy").read_bytes()
    part = tmp_path / "val.npy.part"
    # stale: a prefix of another version of the file; oversized: longer than the file (the server answers 416)
    part.write_bytes(b"x" * 1000 if kept == "stale" else source + b"trailing bytes of something else")
    url, digest = f"{base}/prvg/tacos_val.npy", SHARED_SUMS["prvg/tacos_val.npy"]
    with caplog.at_level(logging.WARNING, logger="hscnet.fetch"):
        assert main(["fetch", "--url", url, "--sha256", digest, "--output", str(target)]) == 0
    assert target.read_bytes() == source and not part.exists()
    assert f"bytes kept in {part}" in caplog.text and "serves another file" not in caplog.text
    assert server.requests[0][1] is not None and server.requests[-1] == ("/prvg/tacos_val.npy", None)


def test_a_part_longer_than_the_recorded_size_is_dropped_before_any_request(tmp_path, shared_data, serve, caplog):
    server, base = serve(shared_data)
    target = tmp_path / "val.npy"
    size = (shared_data / "prvg" / "tacos_val.npy").stat().st_size
    (tmp_path / "val.npy.part").write_bytes(b"x" * (size + 1))
    with caplog.at_level(logging.WARNING, logger="hscnet.fetch"):
        fetch(target, f"{base}/prvg/tacos_val.npy", size=size)
    assert "exceed the file's" in caplog.text
    assert server.requests == [("/prvg/tacos_val.npy", None)] and _sha256(target) == SHARED_SUMS["prvg/tacos_val.npy"]


def test_an_output_that_is_a_directory_is_refused_before_downloading(tmp_path, shared_data, serve, caplog):
    server, base = serve(shared_data)
    folder = tmp_path / "adir"
    folder.mkdir()
    with caplog.at_level(logging.ERROR):
        assert main(["fetch", "--url", f"{base}/prvg/tacos_val.npy", "--output", str(folder)]) == 1
    assert f"{folder}: is a directory; the output must name the file to write, e.g. {folder / 'tacos_val.npy'}" in (
        caplog.text
    )
    assert server.requests == [] and list(tmp_path.iterdir()) == [folder] and list(folder.iterdir()) == []


def test_a_wrong_file_already_in_place_is_named_and_kept(tmp_path, shared_data, serve):
    server, base = serve(shared_data)
    target = tmp_path / "val.npy"
    target.write_bytes(b"not the file")
    with pytest.raises(ValueError, match=rf"{target}: the file already there has sha256 .*Delete it"):
        fetch(target, f"{base}/prvg/tacos_val.npy", sha256=SHARED_SUMS["prvg/tacos_val.npy"])
    assert target.read_bytes() == b"not the file" and server.requests == []


def test_a_404_names_the_file_the_address_and_what_to_do(tmp_path, shared_data, serve, caplog):
    _, base = serve(shared_data)
    target = tmp_path / "missing.npy"
    url = f"{base}/prvg/no_such_file.npy"
    with pytest.raises(ValueError, match=rf"{target}: {url} answered HTTP 404 .*put the file at {target} by hand"):
        fetch(target, url, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []
    # the command turns it into one log line and exit status 1
    with caplog.at_level(logging.ERROR):
        assert main(["fetch", "--url", url, "--output", str(target)]) == 1
    assert "answered HTTP 404" in caplog.text


def test_an_unreachable_host_is_a_clear_error(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = tmp_path / "x.json"
    url = f"http://127.0.0.1:{port}/x.json"
    with pytest.raises(ValueError, match=rf"{target}: could not download {url} \(ConnectionError.*mirror.*by hand"):
        fetch(target, url, size=10, attempts=1)
    assert not target.exists()


def test_a_zip_member_is_unpacked_after_the_archive_is_verified(tmp_path, serve):
    served = tmp_path / "served"
    served.mkdir()
    archive = served / "vectors.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("vectors.txt", "the 0.1 0.2\n")
        zf.writestr("readme.txt", "other member")
    _, base = serve(served)
    target = tmp_path / "glove" / "vectors.txt"
    fetch(target, f"{base}/vectors.zip", size=archive.stat().st_size, member="vectors.txt")
    assert target.read_text() == "the 0.1 0.2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["vectors.txt"]  # the archive is removed
    with pytest.raises(ValueError, match=r"vectors.zip: has no member 'missing.txt'"):
        fetch(tmp_path / "other" / "missing.txt", f"{base}/vectors.zip", member="missing.txt")
    assert not (tmp_path / "other" / "missing.txt").exists()


def test_a_file_without_an_address_stops_with_the_instructions(tmp_path):
    target = tmp_path / "features.hdf5"
    with pytest.raises(
        FileNotFoundError,
        match=rf"{target}: cannot be downloaded automatically\. Open the box\. "
        rf"Put the file at {target}",
    ):
        place_by_hand(target, "Open the box.")
    target.write_bytes(b"placed")
    place_by_hand(target, "Open the box.")  # in place: nothing to do


def test_the_download_table_carries_the_published_sums(shared_data):
    """Every annotation entry's sha256 is that of the same file in ../shared/data (the README's table)."""
    readme = (shared_data / "README.md").read_text()
    published = dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", readme, flags=re.M))
    downloads = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())["downloads"]
    expected = {
        "data/tacos/prvg/train.npy": "prvg/tacos_train.npy",
        "data/tacos/prvg/val.npy": "prvg/tacos_val.npy",
        "data/tacos/prvg/test.npy": "prvg/tacos_test.npy",
        "data/activitynet/prvg/test.npy": "prvg/activitynet_test.npy",
        "data/tacos/train.json": "tacos/train.json",
        "data/tacos/val.json": "tacos/val.json",
        "data/tacos/test.json": "tacos/test.json",
        "data/activitynet/train.json": "activitynet/train.json",
        "data/activitynet/val_1.json": "activitynet/val_1.json",
        "data/activitynet/val_2.json": "activitynet/val_2.json",
    }
    for path, shared in expected.items():
        assert downloads[path]["sha256"] == published[shared] == _sha256(shared_data / shared), path
    # every direct download is checked by a sum or a size, except the C3D weights (none published)
    unverified = [p for p, e in downloads.items() if "url" in e and not ({"sha256", "size"} & e.keys())]
    assert unverified == ["data/c3d/c3d.pickle"]


def test_a_terminal_gets_a_progress_bar(tmp_path, shared_data, serve, capsys, monkeypatch):
    _, base = serve(shared_data)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    fetch(tmp_path / "val.npy", f"{base}/prvg/tacos_val.npy", sha256=SHARED_SUMS["prvg/tacos_val.npy"])
    bar = capsys.readouterr().err
    assert "val.npy: 100%" in bar and "375k/375k" in bar
