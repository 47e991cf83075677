"""``hscnet serve``: a grounding page in the browser, on this machine only (127.0.0.1).

    hscnet serve --checkpoint results/demo/runs/full/best.pt --glove results/vectors/data_demo_glove \\
        [--videos data/demo/videos] [--weights FILE] [--pca PCA.hdf5] [--port 8000]

prints the page's address. On the page a user picks a video (from ``--videos``) or uploads one, types
a paragraph and sees every sentence's span on a timeline under thumbnails of the video, with the
paragraph's span; a click on a sentence plays its span in the page's video player.

This module is the web layer only: it is given the function that grounds one paragraph in one video
(``hscnet.ground.command`` registers ``serve`` and passes ``Grounder.ground``: the checkpoint is loaded
and checked before the server listens, and a video's features are computed once and kept for its
further paragraphs), so the page checks what the command line checks and says it in the
same one line (``InputError``). An upload is probed as soon as it
arrives, so a file that is no video is refused before any paragraph is typed. Uploads, thumbnails and
nothing else are written, all in one temporary folder removed when the server stops (Ctrl-C or SIGTERM).
Why the standard library's HTTP server and no web framework: hscnet/DESIGN.md.

The page talks to a small JSON API (all under ``/api``):

* ``GET /api/videos``: the videos to pick, ``[{"id", "name"}]``;
* ``PUT /api/videos?name=NAME`` with the file as the body: an upload; its id, name and duration, or an error
  (413 above ``--max-upload-mb``, answered before the body is read);
* ``POST /api/ground`` with ``{"video": id, "paragraph": text}``: starts a grounding, returns its job id;
* ``GET /api/jobs/ID``: ``state`` (running, done, error), ``progress`` (stage, done, total), ``result``
  (duration, sentences, spans and the paragraph's span in seconds) or ``error`` (one line);
* ``GET /media/ID`` serves a video (with HTTP ranges, so the player can seek), ``GET /api/jobs/ID/thumbnails.png``
  the thumbnail strip of a grounded video.

Errors are JSON ``{"error": "one line"}`` with a 4xx status; an unexpected failure of a grounding keeps
its traceback in the server's log and tells the page so.
"""

from __future__ import annotations

import dataclasses
import errno
import http.server
import itertools
import json
import logging
import mimetypes
import re
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

from hscnet.errors import InputError, MissingInputError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the page runs models on uploads: never reachable from another machine
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg"}
THUMBNAIL_HEIGHT_PX = 90
COPY_CHUNK = 1 << 20
DEFAULT_MAX_UPLOAD_MB = 2048  # hscnet serve --max-upload-mb
MAX_REQUEST_BYTES = 1 << 20  # a POST /api/ground body: a paragraph of text

# (video path, sentences) -> a hscnet.ground.grounder.Grounding: duration, sentences, spans, paragraph_span
GroundParagraph = Callable[[Path, Sequence[str]], object]


class TooLarge(InputError):
    """A request body over the server's limit: answered 413 before any of it is read."""


@dataclasses.dataclass
class Job:
    """One paragraph being grounded in one video."""

    video: str  # id
    state: str = "running"  # running, done, error
    stage: str = "waiting for the model"
    done: int = 0
    total: int | None = None
    result: dict | None = None
    error: str | None = None
    thumbnails: Path | None = None

    def status(self) -> dict:
        return {
            "video": self.video,
            "state": self.state,
            "progress": {"stage": self.stage, "done": self.done, "total": self.total},
            "result": self.result,
            "error": self.error,
        }


class GroundingService:
    """The videos (picked or uploaded), the groundings and the temporary folder that holds what is written."""

    def __init__(
        self,
        ground_paragraph: GroundParagraph,
        workdir: Path,
        videos_dir: Path | None = None,
        max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
    ) -> None:
        self.ground_paragraph = ground_paragraph
        self.workdir = workdir
        self.max_upload_mb = max_upload_mb
        self.videos: dict[str, tuple[str, Path]] = {}  # id -> (name shown, path)
        self.jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the dicts above
        self._model_lock = threading.Lock()  # one grounding at a time: each one uses every core
        if videos_dir is not None:
            for path in sorted(videos_dir.iterdir()):
                if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
                    self.videos[self._new_id()] = (path.name, path)

    def _new_id(self) -> str:
        return str(next(self._ids))

    def video_list(self) -> list[dict]:
        with self._lock:
            return [{"id": key, "name": name} for key, (name, _path) in self.videos.items()]

    def video_path(self, video_id: str) -> Path:
        with self._lock:
            if video_id not in self.videos:
                raise MissingInputError(f"video {video_id!r}: no such video on this server")
            return self.videos[video_id][1]

    def add_upload(self, name: str, body, length: int) -> dict:
        """Save an uploaded video under the temporary folder and probe it; an unreadable one is removed."""
        from extractors.probe import probe_video
        from hscnet.io import atomic_path

        safe_name = Path(name.replace("\\", "/")).name.strip()
        if safe_name in ("", ".", ".."):
            raise InputError(f"upload {name!r}: give the video's file name")
        if length > self.max_upload_mb * 2**20:
            raise TooLarge(
                f"{safe_name}: {length / 2**20:.0f} MB; this server takes uploads of at most {self.max_upload_mb} MB"
                " (hscnet serve --max-upload-mb)"
            )
        video_id = self._new_id()
        folder = self.workdir / "uploads" / video_id
        folder.mkdir(parents=True)
        path = folder / safe_name
        try:
            with atomic_path(path) as partial, partial.open("wb") as out:  # a full disk: one line, nothing kept
                remaining = length
                while remaining > 0:
                    chunk = body.read(min(COPY_CHUNK, remaining))
                    if not chunk:
                        raise InputError(f"{safe_name}: the upload ended after {length - remaining} of {length} bytes")
                    out.write(chunk)
                    remaining -= len(chunk)
            info = probe_video(path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self.videos[video_id] = (safe_name, path)
        return {"id": video_id, "name": safe_name, "duration": info.duration}

    def user_message(self, err: BaseException) -> str:
        """The error's line with the temporary folder left out of paths: the user knows the file by its name."""
        return re.sub(re.escape(str(self.workdir / "uploads")) + r"/\d+/", "", str(err))

    def start(self, video_id: str, paragraph: str) -> str:
        """Check the request, then ground in a thread of its own; returns the job's id."""
        from hscnet.text.tokenize import split_paragraph

        self.video_path(video_id)
        sentences = split_paragraph(paragraph or "")
        job_id = self._new_id()
        job = Job(video_id)
        with self._lock:
            self.jobs[job_id] = job
        threading.Thread(target=self._run, args=(job_id, job, sentences), daemon=True).start()
        return job_id

    def job(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self.jobs:
                raise MissingInputError(f"job {job_id!r}: no such grounding on this server")
            return self.jobs[job_id]

    def _run(self, job_id: str, job: Job, sentences: list[str]) -> None:
        from hscnet.progress import progress_listener

        def report(stage: str, done: int, total: int | None) -> None:
            job.stage, job.done, job.total = f"C3D features of {stage}", done, total

        progress_listener.set(report)  # this thread's own context: other jobs' bars are not mixed in
        video = self.video_path(job.video)
        try:
            with self._model_lock:
                job.stage = "text and video features"
                result = self.ground_paragraph(video, sentences)
                job.stage, job.done, job.total = "thumbnails", 0, None
                job.thumbnails = self._thumbnails(job.video, video)
            job.result = {
                "duration": result.duration,
                "sentences": result.sentences,
                "spans": [list(span) for span in result.spans],
                "paragraph_span": list(result.paragraph_span) if result.paragraph_span else None,
            }
            job.state = "done"
        except InputError as err:
            job.error, job.state = self.user_message(err), "error"
        except Exception as err:  # a bug: the traceback goes to the server's log, the page gets one line
            log.exception("grounding %s in %s failed", sentences, video)
            job.error, job.state = f"unexpected {type(err).__name__}: {err} (traceback in the server's log)", "error"

    def _thumbnails(self, video_id: str, video: Path) -> Path:
        """Frames spread evenly over the video side by side in one PNG, as ``ground --plot`` draws them; made
        once per video (further paragraphs on it decode no frames)."""
        import matplotlib.image
        import numpy as np

        from hscnet.plotting import thumbnails

        out = self.workdir / "thumbnails" / f"{video_id}.png"
        if not out.is_file():
            out.parent.mkdir(exist_ok=True)
            matplotlib.image.imsave(out, np.concatenate(list(thumbnails(video, lambda aspect: 10)), axis=1))
        return out


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes of the page and its API; ``server.service`` is the ``GroundingService``."""

    server_version = "hscnet-serve"

    @property
    def service(self) -> GroundingService:
        return self.server.service

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        from hscnet.ground.page import PAGE

        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/":
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/api/videos":
                self._send_json(200, self.service.video_list())
            elif match := re.fullmatch(r"/api/jobs/(\d+)", path):
                self._send_json(200, self.service.job(match[1]).status())
            elif match := re.fullmatch(r"/api/jobs/(\d+)/thumbnails\.png", path):
                thumbnails = self.service.job(match[1]).thumbnails
                if thumbnails is None:
                    raise MissingInputError(f"job {match[1]}: no thumbnails yet")
                self._send_file(thumbnails)
            elif match := re.fullmatch(r"/media/(\d+)", path):
                self._send_file(self.service.video_path(match[1]))
            else:
                self._send_json(404, {"error": f"{path}: no such page"})
        except MissingInputError as err:
            self._send_json(404, {"error": str(err)})

    def do_PUT(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/videos":
            self._send_json(404, {"error": f"{url.path}: no such upload address"})
            return
        name = urllib.parse.parse_qs(url.query).get("name", [""])[0]
        try:
            length = self._content_length()
            if length <= 0:
                raise InputError(f"{name or 'upload'}: video file is empty (0 bytes)")
            self._send_json(200, self.service.add_upload(name, self.rfile, length))
        except InputError as err:
            self.close_connection = True  # the rest of a refused body may still be on the way
            self._send_json(413 if isinstance(err, TooLarge) else 400, {"error": self.service.user_message(err)})

    def do_POST(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/api/ground":
            self._send_json(404, {"error": f"{self.path}: no such address"})
            return
        try:
            length = self._content_length()
            if length > MAX_REQUEST_BYTES:
                raise TooLarge(f"{length} bytes: a grounding request takes at most {MAX_REQUEST_BYTES} (one paragraph)")
            request = json.loads(self.rfile.read(length) or b"{}")
            job_id = self.service.start(str(request.get("video", "")), str(request.get("paragraph", "")))
        except MissingInputError as err:
            self._send_json(404, {"error": str(err)})
        except TooLarge as err:
            self.close_connection = True
            self._send_json(413, {"error": str(err)})
        except (InputError, json.JSONDecodeError, AttributeError, UnicodeDecodeError) as err:
            self.close_connection = True
            self._send_json(400, {"error": str(err)})
        else:
            self._send_json(202, {"job": job_id})

    def _content_length(self) -> int:
        """The request's Content-Length; one without it has no body."""
        value = (self.headers.get("Content-Length") or "0").strip()
        if not re.fullmatch(r"[0-9]+", value):  # not str.isdigit: it takes "²", which int() refuses
            raise InputError(f"Content-Length {value!r}: not a number of bytes")
        return int(value)

    def _send_json(self, status: int, value) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, path: Path) -> None:
        """The file, or the byte range the request asks for (a video element seeks with ranges)."""
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        requested = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if requested and (requested[1] or requested[2]):
            if requested[1]:
                start, end = int(requested[1]), min(int(requested[2] or size - 1), size - 1)
            else:  # the last N bytes
                start = max(0, size - int(requested[2]))
            if start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with path.open("rb") as source:
            source.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = source.read(min(COPY_CHUNK, remaining))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):  # the player stopped reading: a seek
                    return
                remaining -= len(chunk)


def serve(
    ground_paragraph: GroundParagraph,
    port: int = 8000,
    videos_dir: str | None = None,
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
) -> None:
    """Serve the page on 127.0.0.1 until interrupted; the temporary folder goes with it."""
    videos = Path(videos_dir) if videos_dir else None
    if videos is not None and not videos.is_dir():
        raise MissingInputError(f"{videos}: --videos must be a folder of videos")
    try:
        server = http.server.ThreadingHTTPServer((HOST, port), Handler)
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        raise InputError(f"--port {port}: already in use on {HOST}; pass another, or 0 for any free one") from err
    server.daemon_threads = True
    with tempfile.TemporaryDirectory(prefix="hscnet-serve-") as workdir, server:
        server.service = GroundingService(ground_paragraph, Path(workdir), videos, max_upload_mb)
        print(f"hscnet serve: http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops it)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped; removing %s", workdir)
