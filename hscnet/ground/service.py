"""What ``hscnet serve`` holds and runs, without the web: the videos (listed or uploaded), the groundings
queued for one worker thread, and the temporary folder that holds uploads and thumbnails.

Bounded: at most ``max_waiting`` groundings wait (a further one is refused with ``Busy``), the
``keep_finished`` newest finished jobs are kept, and an upload that sends nothing for ``upload_stall_s``
seconds is dropped. ``stop`` ends the grounding under way at its next progress report and joins the
worker, so no thread is inside torch when the interpreter exits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import queue
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from hscnet.errors import InputError, MissingInputError

log = logging.getLogger(__name__)

# Served as these types (with nosniff); a file of any other suffix is neither listed nor uploaded.
VIDEO_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
}
DEFAULT_MAX_UPLOAD_MB = 2048  # hscnet serve --max-upload-mb
MAX_UPLOAD_NAME_BYTES = 200  # the file is stored under its name; its temporary adds ~40 bytes to the 255 allowed
UPLOAD_STALL_S = 60.0  # an upload that sends nothing for this long is dropped
MAX_WAITING_GROUNDINGS = 4  # past these, a grounding request is refused (503)
KEEP_FINISHED_JOBS = 32  # a page polls its job until it ends and then fetches its thumbnails once

# (video path, sentences) -> a hscnet.ground.grounder.Grounding: duration, sentences, spans, paragraph_span
GroundParagraph = Callable[[Path, Sequence[str]], object]


class TooLarge(InputError):
    """A request body over the server's limit (413)."""


class UploadStalled(InputError):
    """An upload that sent nothing for ``upload_stall_s`` seconds (408)."""


class Busy(InputError):
    """As many groundings wait as the server queues (503)."""


class GroundingStopped(Exception):
    """Raised in the worker at the grounding's next progress report once the server stops."""


@dataclasses.dataclass
class Job:
    """One paragraph being grounded in one video."""

    video: str  # id
    state: str = "waiting"  # waiting, running, done, error
    stage: str = "waiting for the model"
    done: int = 0
    total: int | None = None
    result: dict | None = None
    error: str | None = None
    thumbnails: Path | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "error")

    def status(self) -> dict:
        return {
            "video": self.video,
            "state": self.state,
            "progress": {"stage": self.stage, "done": self.done, "total": self.total},
            "result": self.result,
            "error": self.error,
        }


def listed_videos(folder: Path) -> list[tuple[str, Path]]:
    """(name, file) of each video in ``folder``: by suffix, and a link only when it leads to a video file."""
    found = []
    for entry in sorted(folder.iterdir()):
        target = entry.resolve()
        if entry.suffix.lower() in VIDEO_TYPES and target.suffix.lower() in VIDEO_TYPES and target.is_file():
            found.append((entry.name, target))
    return found


def upload_name(given: str) -> str:
    """The base name an upload is stored and shown under; refused unless a file could have it and it names a video."""
    name = Path(given.replace("\\", "/")).name.strip()
    if name in ("", ".", ".."):
        raise InputError(f"upload {given!r}: give the video's file name")
    if any(ord(char) < 32 for char in name):
        raise InputError(f"upload {given!r}: a file name holds no control character (null byte, newline, ...)")
    if len(name.encode()) > MAX_UPLOAD_NAME_BYTES:
        raise InputError(
            f"upload {name[:40]}...: a name of {len(name.encode())} bytes; uploads take names of at most "
            f"{MAX_UPLOAD_NAME_BYTES} bytes"
        )
    if Path(name).suffix.lower() not in VIDEO_TYPES:
        raise InputError(f"{name}: not a video file name; give one ending in {', '.join(VIDEO_TYPES)}")
    return name


def paragraph_sentences(paragraph: object) -> list[str]:
    """The sentences of a request's paragraph: one text, split at . ! ?, or a JSON list of sentences."""
    from hscnet.text.tokenize import split_paragraph

    if isinstance(paragraph, str):
        return split_paragraph(paragraph)
    if not isinstance(paragraph, list):
        raise InputError(f'"paragraph" is {json_kind(paragraph)}; give a text or a list of sentences')
    for index, sentence in enumerate(paragraph):
        if not isinstance(sentence, str):
            raise InputError(f'"paragraph": sentence {index + 1} is {json_kind(sentence)}, not a text')
    if not paragraph:
        raise InputError("the paragraph is empty")
    return list(paragraph)


def json_kind(value: object) -> str:
    kinds = {bool: "true or false", int: "a number", float: "a number", dict: "an object", list: "a list"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


class GroundingService:
    """The videos (picked or uploaded), the groundings and the temporary folder that holds what is written."""

    def __init__(
        self,
        ground_paragraph: GroundParagraph,
        workdir: Path,
        videos_dir: Path | None = None,
        max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
        upload_stall_s: float = UPLOAD_STALL_S,
        max_waiting: int = MAX_WAITING_GROUNDINGS,
        keep_finished: int = KEEP_FINISHED_JOBS,
    ) -> None:
        self.ground_paragraph = ground_paragraph
        self.workdir = workdir
        self.max_upload_mb = max_upload_mb
        self.upload_stall_s = upload_stall_s
        self.keep_finished = keep_finished
        self.videos: dict[str, tuple[str, Path]] = {}  # id -> (name shown, path)
        self.jobs: dict[str, Job] = {}  # in the order they were asked for
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the dicts above
        self._waiting: queue.Queue[tuple[Job, list[str]] | None] = queue.Queue(maxsize=max_waiting)
        self._running: Job | None = None
        self._stopping = threading.Event()
        # Not a daemon: one left inside torch when the interpreter exits aborts the process.
        self._worker = threading.Thread(target=self._work, name="grounding")
        for name, path in listed_videos(videos_dir) if videos_dir is not None else []:
            self.videos[self._new_id()] = (name, path)

    def _new_id(self) -> str:
        return str(next(self._ids))

    def video_list(self) -> list[dict]:
        with self._lock:
            return [{"id": key, "name": name} for key, (name, _path) in self.videos.items()]

    def video(self, video_id: str) -> tuple[str, Path]:
        """The name shown and the file of a video."""
        with self._lock:
            if video_id not in self.videos:
                raise MissingInputError(f"video {video_id!r}: no such video on this server")
            return self.videos[video_id]

    def user_message(self, err: BaseException) -> str:
        """The error's line with the temporary folder left out of paths: the user knows the file by its name."""
        return re.sub(re.escape(str(self.workdir / "uploads")) + r"/\d+/", "", str(err))

    async def add_upload(self, given_name: str, chunks: AsyncIterator[bytes], declared: int | None) -> dict:
        """Save an upload under the temporary folder and probe it; one refused or unreadable is removed.
        ``declared``: the request's Content-Length, if it has one."""
        from extractors.probe import probe_video
        from hscnet.io import atomic_path

        name = upload_name(given_name)
        if declared is not None and declared > self.max_upload_mb * 2**20:
            raise self._too_large(name, declared)
        video_id = self._new_id()
        folder = self.workdir / "uploads" / video_id
        folder.mkdir(parents=True)
        path = folder / name
        try:
            with atomic_path(path) as partial, partial.open("wb") as out:  # a full disk: one line, nothing kept
                await self._receive(name, chunks, out, declared)
            info = await asyncio.to_thread(probe_video, path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self.videos[video_id] = (name, path)
        return {"id": video_id, "name": name, "duration": info.duration}

    def _too_large(self, name: str, size: int) -> TooLarge:
        return TooLarge(
            f"{name}: {size / 2**20:.0f} MB; this server takes uploads of at most {self.max_upload_mb} MB"
            " (hscnet serve --max-upload-mb)"
        )

    async def _receive(self, name: str, chunks: AsyncIterator[bytes], out, declared: int | None) -> None:
        """Write the upload's bytes to ``out``, dropping it when it stalls or grows past the limit."""
        received, loop = 0, asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.upload_stall_s) as deadline:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > self.max_upload_mb * 2**20:
                        raise self._too_large(name, received)
                    out.write(chunk)
                    deadline.reschedule(loop.time() + self.upload_stall_s)
        except TimeoutError:
            raise UploadStalled(
                f"{name}: the upload stalled (nothing for {self.upload_stall_s:g} s after {received} bytes)"
            ) from None
        if received == 0:
            raise InputError(f"{name}: video file is empty (0 bytes)")
        if declared is not None and received < declared:
            raise InputError(f"{name}: the upload ended after {received} of {declared} bytes")

    def submit(self, video_id: str, paragraph: object) -> str:
        """Check the request and queue its grounding; returns the job's id."""
        self.video(video_id)
        sentences = paragraph_sentences(paragraph)
        job, job_id = Job(video_id), self._new_id()
        with self._lock:
            try:
                self._waiting.put_nowait((job, sentences))
            except queue.Full:
                raise Busy(
                    f"{self._waiting.maxsize} groundings already wait for the model; try again when one is done"
                ) from None
            self.jobs[job_id] = job
        return job_id

    def job(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self.jobs:
                raise MissingInputError(f"job {job_id!r}: no such grounding on this server")
            return self.jobs[job_id]

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        """End the grounding under way at its next progress report, drop the waiting ones, join the worker."""
        self._stopping.set()
        while True:
            try:
                self._waiting.get_nowait()
            except queue.Empty:
                break
        if self._worker.is_alive():
            self._waiting.put(None)
            self._worker.join()

    def _work(self) -> None:
        from hscnet.progress import progress_listener

        progress_listener.set(self._report)  # this thread's own context: no other thread's bars
        while (waiting := self._waiting.get()) is not None:
            job, sentences = waiting
            self._running = job
            self._run(job, sentences)
            self._prune()

    def _report(self, stage: str, done: int, total: int | None) -> None:
        if self._stopping.is_set():
            raise GroundingStopped
        job = self._running
        job.stage, job.done, job.total = f"features of {stage}", done, total

    def _run(self, job: Job, sentences: list[str]) -> None:
        _, video = self.video(job.video)
        job.state, job.stage = "running", "text and video features"
        try:
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
        except GroundingStopped:
            job.error, job.state = "the server stopped before this grounding ended", "error"
        except InputError as err:
            job.error, job.state = self.user_message(err), "error"
        except Exception as err:  # a bug: the traceback goes to the server's log, the page gets one line
            log.exception("grounding %s in %s failed", sentences, video)
            job.error, job.state = f"unexpected {type(err).__name__}: {err} (traceback in the server's log)", "error"

    def _prune(self) -> None:
        """Forget all but the ``keep_finished`` newest finished jobs."""
        with self._lock:
            finished = [key for key, job in self.jobs.items() if job.finished]
            for key in finished[: max(0, len(finished) - self.keep_finished)]:
                del self.jobs[key]

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
