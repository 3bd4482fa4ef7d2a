"""`sealign serve-feedback`: the web app where raters answer the pairs a run is waiting for.

One plain HTML page and a small JSON API over the feedback queue. Every API call carries the
rater's token as ``Authorization: Bearer TOKEN`` (tokens come from `sealign raters add`):

    GET  /api/next      the pair on this rater's screen, or {"pair": null} when none waits
    POST /api/answer    {"pair_id": ..., "choice": "left" | "right" | "tie"}; accepted once (409 after)
    GET  /api/progress  counts and inter-rater agreement

401: no or unknown token; 403: the pair is not assigned to this rater; 409: already answered.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time, and the
# dependency `rater` is local to create_app, where a string annotation could not find it.
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from sealign.errors import UserError
from sealign.server.queue import FeedbackQueue, QueueError, Rater

try:
    from fastapi import Depends, FastAPI, Header, HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, Field
except ImportError as err:  # the server is an optional extra; say how to get it
    raise UserError("serve-feedback needs the server extra: pip install 'sealign[server]'") from err


class AnswerIn(BaseModel):
    pair_id: str = Field(min_length=1, max_length=64)
    choice: str


def create_app(db_path: str | Path) -> FastAPI:
    queue = FeedbackQueue(db_path)
    page = files("sealign.server").joinpath("page.html").read_text()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        queue.close()

    app = FastAPI(title="sealign feedback", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.queue = queue

    def rater(authorization: Annotated[str | None, Header()] = None) -> Rater:
        scheme, _, token = (authorization or "").partition(" ")
        found = queue.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if found is None:
            raise HTTPException(401, "sign in with your rater token", headers={"WWW-Authenticate": "Bearer"})
        return found

    def refuse(err: QueueError):
        raise HTTPException(err.status, str(err)) from err

    @app.exception_handler(RequestValidationError)
    async def refuse_malformed(request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input back, and answers 500 when a body is not UTF-8
        # (found by tests/unit/server/test_fuzz.py). The page shows `detail` as text, so it is one string here.
        problems = [f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in err.errors()]
        return JSONResponse({"detail": "; ".join(problems) or "malformed request"}, status_code=422)

    # Plain `def` endpoints: FastAPI runs them in a thread pool, and SQLite calls block.
    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/next")
    def next_pair(me: Annotated[Rater, Depends(rater)]) -> dict:
        return {"rater": me.name, "pair": queue.next_pair(me), "progress": queue.progress(me)}

    @app.post("/api/answer")
    def answer(body: AnswerIn, me: Annotated[Rater, Depends(rater)]) -> dict:
        try:
            queue.submit(me, body.pair_id, body.choice)
        except QueueError as err:
            refuse(err)
        return {"ok": True, "progress": queue.progress(me)}

    @app.get("/api/progress")
    def progress(me: Annotated[Rater, Depends(rater)]) -> dict:
        return {"rater": me.name, "progress": queue.progress(me)}

    return app


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    import uvicorn

    if not Path(db_path).exists():
        raise UserError(f"no feedback queue at {db_path}; create it with `sealign raters add NAME --db {db_path}`")
    uvicorn.run(create_app(db_path), host=host, port=port, log_level="info")
