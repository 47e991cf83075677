"""``hscnet serve``: a grounding page in the browser, on this machine only (127.0.0.1).

    hscnet serve --checkpoint results/demo/runs/full/best.pt --glove results/vectors/data_demo_glove \\
        [--videos data/demo/videos] [--weights FILE] [--pca PCA.hdf5] [--port 8000]

prints the page's address. On the page a user picks a video (from ``--videos``) or uploads one, types
a paragraph and sees every sentence's span on a timeline under thumbnails of the video, with the
paragraph's span; a click on a sentence plays its span in the page's video player.

This module starts uvicorn; ``hscnet.ground.web`` is the Starlette app (routes, errors, the checks
below) and ``hscnet.ground.service`` what it holds and runs. They are given the function that grounds one
paragraph in one video
(``hscnet.ground.command`` registers ``serve`` and passes ``Grounder.ground``: the checkpoint is loaded
and checked before the server listens, and a video's features are computed once and kept for its
further paragraphs), so the page checks what the command line checks and says it in the
same one line (``InputError``). An upload is probed as soon as it arrives, so a file that is no video is
refused before any paragraph is typed. Uploads, thumbnails and nothing else are written, all in one
temporary folder removed when the server stops (Ctrl-C or SIGTERM, also during a grounding).

Only the page itself reaches the server: a request whose Host is not 127.0.0.1, localhost or [::1] on
the server's port gets 403 (a website whose name resolves to 127.0.0.1), and so does one that changes
something unless it is JSON (uploads excepted) from the page's own Origin. The page's
Content-Security-Policy runs its own script only; videos are served as video types with nosniff.
Starlette and uvicorn, and why: hscnet/DESIGN.md.

The page talks to a small JSON API (all under ``/api``):

* ``GET /api/videos``: the videos to pick, ``[{"id", "name"}]``;
* ``PUT /api/videos?name=NAME`` with the file as the body: an upload (a video's name: .mp4, .mkv, ...); its
  id, name and duration, or an error (413 above ``--max-upload-mb``, answered before the body is read;
  408 after 60 s without a byte);
* ``POST /api/ground`` with ``{"video": id, "paragraph": text or [sentence, ...]}`` as
  ``application/json``: queues a grounding (one runs at a time; 503 when 4 already wait), returns its
  job id (202);
* ``GET /api/jobs/ID``: ``state`` (waiting, running, done, error), ``progress`` (stage, done, total), ``result``
  (duration, sentences, spans and the paragraph's span in seconds) or ``error`` (one line);
* ``GET /media/ID`` serves a video (with HTTP ranges, so the player can seek), ``GET /api/jobs/ID/thumbnails.png``
  the thumbnail strip of a grounded video.

Errors are JSON ``{"error": "one line"}`` with a 4xx status; an unexpected failure (500, or a grounding's
error) keeps its traceback in the server's log and tells the page so. The 32 newest finished jobs are kept.
"""

from __future__ import annotations

import errno
import logging
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from hscnet.errors import InputError, MissingInputError
from hscnet.ground.service import DEFAULT_MAX_UPLOAD_MB, GroundingService, GroundParagraph

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the page runs models on uploads: never reachable from another machine
GRACEFUL_STOP_S = 5  # how long a stop waits for requests under way (a poll, a thumbnail) before closing them
MAX_CONNECTIONS = 64  # past these uvicorn answers 503


def serve(
    ground_paragraph: GroundParagraph,
    port: int = 8000,
    videos_dir: str | None = None,
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
) -> None:
    """Serve the page on 127.0.0.1 until interrupted; the temporary folder goes with it."""
    import uvicorn

    from hscnet.ground.web import build_app

    videos = Path(videos_dir) if videos_dir else None
    if videos is not None and not videos.is_dir():
        raise MissingInputError(f"{videos}: --videos must be a folder of videos")
    listening = listening_socket(port)
    with listening, tempfile.TemporaryDirectory(prefix="hscnet-serve-") as workdir:
        service = GroundingService(ground_paragraph, Path(workdir), videos, max_upload_mb)
        bound = listening.getsockname()[1]
        address = f"http://{HOST}:{bound}/"
        app = build_app(service, bound, lambda: print(f"hscnet serve: {address} (Ctrl-C stops it)", flush=True))
        try:
            # uvicorn stops on SIGINT or SIGTERM (the grounding under way too), then raises the signal again:
            # KeyboardInterrupt, or SystemExit from hscnet's SIGTERM handler, after the folder is removed.
            uvicorn.Server(server_config(app)).run(sockets=[listening])
        except KeyboardInterrupt:
            log.info("stopped; removing %s", workdir)


def server_config(app: ASGIApp) -> uvicorn.Config:
    """uvicorn's settings for the page: h11 on asyncio, hscnet's logging (uvicorn's own lines from warnings up)."""
    import uvicorn

    return uvicorn.Config(
        app,
        http="h11",
        loop="asyncio",
        ws="none",
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_graceful_shutdown=GRACEFUL_STOP_S,
    )


def listening_socket(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port`` (0: any free one); connections wait in its backlog until
    the server accepts them."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((HOST, port))
    except OSError as err:
        listening.close()
        if err.errno != errno.EADDRINUSE:
            raise
        raise InputError(f"--port {port}: already in use on {HOST}; pass another, or 0 for any free one") from err
    listening.listen(128)
    return listening
