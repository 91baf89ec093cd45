"""The one generation pipeline: a validated request (a ``Plan``) → upstream attempts → saved
images → an ``Outcome``. Used by /api/generate, /api/edit, /api/node/generate and /api/jobs.

Owns: running the ``n`` images of one job on at most ``parallel`` threads (each image =
``GenerationService.produce`` + ``saving.ImageSaver``), the one error mapping
(``job_error``: any exception → an ``ApiError`` that keeps its ``UpstreamError``), the rule
that a job which saved an image is ``done`` even if a cancel arrived later (a late cancel
never throws a paid, saved image away), and the in-flight record's finish.
Kind-specific parts are data and small methods on the ``Plan`` subclasses in ``generate_edit.py``
(generate, edit) and ``nodes.py`` (node): spec, file names, sidecar, answer payload, error
fields. Must not: know about HTTP (no Request, Response or header: the routes render an
``Outcome`` as JSON, SSE or raw bytes) or write files itself (saving.py does).
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ..errors import ApiError, GatewayTimeout, InternalError, disk_full_error
from ..payload import DataUrl
from ..upstream import b64_bytes
from ..upstream_errors import UpstreamError, canceled
from . import params
from .generation import ImageSpec
from .saving import ImageSaver, Saved

if TYPE_CHECKING:
    from ..app import App

DEADLINE_REASON = "job deadline exceeded"
Emit = Callable[[str, Any], None]  # (event, payload): "partial" previews of a running job


class Plan:
    """A validated request. Subclasses (one per kind) provide the kind-specific parts."""

    kind = "generate"  # generate | edit | node
    inflight_kind = "classic"  # the wire kind of generate / edit jobs (GET /api/inflight)
    family = "A"  # error body family of the kind's synchronous route
    log_scope = "generate"
    pretty_sidecar = False
    internal_code = "INTERNAL_ERROR"
    internal_message = "Internal error (requestId %s)"

    def __init__(self, app: App, body: Dict[str, Any]) -> None:
        self.app = app
        self.body = body
        self.started = time.monotonic()
        self.request_id = ""
        self.job: Any = None  # the in-flight record (inflight.Job)
        self.n = 1
        self.format = "png"
        self.previews = False  # partial images wanted (SSE answers)
        self.keep_bytes = False  # raw-bytes answer wanted
        self.warnings: List[Dict[str, Any]] = []
        self.deliver: Optional[Tuple[int, int]] = None  # deliver: "exact" → (width, height)

    # --- kind-specific parts (overridden) --------------------------------------------------
    def parallel(self) -> int:
        return 1

    def spec(self) -> ImageSpec:
        raise NotImplementedError

    def name_for(self, index: int, ext: str) -> str:
        raise NotImplementedError

    def sidecar(self, result: Any, now: int, ext: str, actual: Optional[str]) -> Dict[str, Any]:
        raise NotImplementedError

    def partial(self, index: int, payload: Dict[str, Any]) -> Dict[str, Any]:
        return payload

    def finish_meta(self, saved: List[Saved]) -> Dict[str, Any]:
        raise NotImplementedError

    def payload(self, outcome: "Outcome") -> Dict[str, Any]:
        raise NotImplementedError

    def error_fields(self, err: ApiError, upstream: Optional[UpstreamError],
                     mapped: bool) -> ApiError:
        """The kind's error body fields around the error (see ``job_error``); ``mapped``:
        ``err`` stands for an unexpected exception (I/O error, bug)."""
        raise NotImplementedError

    def describe(self) -> Dict[str, Any]:
        """Log fields of the ``request`` line."""
        return {}


class Outcome:
    """How a job ended: ``done`` (with images), ``failed`` or ``canceled`` (with an error)."""

    def __init__(self, plan: Plan, state: str, done: List[Tuple[Saved, Any]],
                 error: Optional[ApiError] = None) -> None:
        self.plan = plan
        self.state = state
        self.done = done
        self.error = error
        self.warnings: List[Dict[str, Any]] = []
        if done:
            self.warnings = dedupe(plan.warnings + [w for s, _ in done for w in s.warnings]
                                   + [w for _, r in done for w in (r.warnings or [])])

    @property
    def saved(self) -> List[Saved]:
        return [s for s, _ in self.done]

    @property
    def results(self) -> List[Any]:
        return [r for _, r in self.done]

    @property
    def filenames(self) -> List[str]:
        return [s.filename for s, _ in self.done]


def dedupe(warnings: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    import json

    seen, out = set(), []
    for warning in warnings:
        key = json.dumps(warning, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(warning)
    return out


def partial_payload(request_id: str, b64: Any, index: Optional[int]) -> Dict[str, Any]:
    mime = params.REF_KINDS.get(params.sniff_b64(b64) or "", "image/png")
    piece = b64 if isinstance(b64, (bytes, memoryview)) else b64_bytes(b64)
    return {"requestId": request_id, "image": DataUrl(mime, piece), "index": index}


def job_error(plan: Plan, err: BaseException) -> ApiError:
    """The one mapping of a failure to the error the kind renders (upstream fields kept)."""
    app, request_id = plan.app, plan.request_id
    upstream = err if isinstance(err, UpstreamError) else None
    mapped = not isinstance(err, ApiError)
    full = disk_full_error(err)
    if full is not None:  # 507 DISK_FULL naming the folder
        base = full
    elif isinstance(err, ApiError):
        base = err
    elif isinstance(err, OSError):
        app.log.error(plan.log_scope, "save_failed", requestId=request_id, error=err.strerror)
        base = InternalError("SAVE_FAILED", "Could not save the image (%s)"
                             % (err.strerror or "I/O error"))
    else:
        app.log.error(plan.log_scope, "unexpected", requestId=request_id, error=err)
        base = InternalError(plan.internal_code, plan.internal_message % request_id)
    return plan.error_fields(base, upstream, mapped)


# --------------------------------------------------------------------------------------
# Running one job
# --------------------------------------------------------------------------------------
def execute(plan: Plan, emit: Emit,
            on_named: Optional[Callable[[str], Optional[Callable[[], None]]]] = None
            ) -> Outcome:
    """Run ``plan`` to its outcome and finish its in-flight record. ``on_named`` sees every
    file name before the file is published (the job journal records the intent); it may
    return a ``wait`` that must return before the image is published (the journal write
    then runs beside the sidecar's)."""
    app, job = plan.app, plan.job
    spec = plan.spec()
    app.log.info(plan.log_scope, "request",
                 requestId=plan.request_id, **plan.describe())

    def work(index: int) -> Tuple[Saved, Any]:
        waits: List[Callable[[], None]] = []

        def name_for(k: int, ext: str) -> str:
            name = plan.name_for(k, ext)
            if on_named is not None:
                wait = on_named(name)
                if wait is not None:
                    waits.append(wait)
            return name

        def journaled() -> None:
            while waits:
                waits.pop(0)()

        on_partial = None
        if plan.previews:
            def on_partial(b64: Any, i: Optional[int]) -> None:
                emit("partial", plan.partial(index, partial_payload(plan.request_id, b64, i)))
        saver = ImageSaver(app, job, plan.format, plan.keep_bytes, plan.sidecar,
                           deliver=plan.deliver)
        try:
            result = app.generation.produce(job, spec, on_partial, saver.on_image)
            try:
                saved = saver.save(result, name_for, pretty=plan.pretty_sidecar,
                                   journaled=journaled)
            finally:
                journaled()  # never leave a journal write running past the job
        finally:
            saver.close()
        return saved, result

    values: List[Any] = [None] * plan.n
    errors: List[Optional[BaseException]] = [None] * plan.n
    _run_all(plan.n, max(1, min(plan.n, plan.parallel())), work, values, errors)
    return conclude(plan, values, errors)


def _run_all(count: int, parallel: int, work: Callable[[int], Any], values: List[Any],
             errors: List[Optional[BaseException]]) -> None:
    lock = threading.Lock()
    pending = list(range(count))

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                index = pending.pop(0)
            try:
                values[index] = work(index)
            except BaseException as exc:  # noqa: BLE001 - recorded as this image's failure
                errors[index] = exc

    threads = [threading.Thread(target=worker, name="ima2-image-%d" % number, daemon=True)
               for number in range(parallel - 1)]
    for thread in threads:
        thread.start()
    worker()
    for thread in threads:
        thread.join()


def conclude(plan: Plan, values: List[Any], errors: List[Optional[BaseException]]) -> Outcome:
    """Decide the outcome and finish the in-flight record (saved images win over a cancel)."""
    app, job = plan.app, plan.job
    done = sorted((v for v in values if v is not None), key=lambda v: v[0].index)
    with job.commit_lock:
        job.settled = True  # from here a cancel answers "already finished"
    if done:
        outcome = Outcome(plan, "done", done)
        app.inflight.finish(job, "completed", 200, None, plan.finish_meta(outcome.saved))
        return outcome
    if job.cancel.canceled and job.cancel.reason == DEADLINE_REASON:
        err = job_error(plan, GatewayTimeout("JOB_DEADLINE_EXCEEDED", "The job did not finish "
                                             "within its deadline (IMA2_JOB_DEADLINE_MS)"))
        app.inflight.finish(job, "error", err.status, err.code)
        return Outcome(plan, "failed", [], err)
    if job.cancel.canceled:
        err = job_error(plan, canceled(job.cancel.reason))
        app.inflight.finish(job, "canceled", err.status, err.code)
        return Outcome(plan, "canceled", [], err)
    first = next((e for e in errors if e is not None), None)
    err = job_error(plan, first or RuntimeError("no result"))
    app.inflight.finish(job, "error", err.status, err.code)
    return Outcome(plan, "failed", [], err)
