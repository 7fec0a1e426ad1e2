"""Routes of the media supply chain (admin only). The artwork it produces is served by
:mod:`api.images.views`.

- ``POST /v1/admin/content``: seed A's multipart upload (streamed), 202 ``{content_id,
  asset_id, status_url}``; ``Idempotency-Key`` makes a retry return the first job.
- ``POST /v1/admin/uploads`` → ``PATCH``/``HEAD``/``DELETE /v1/admin/uploads/{id}``: resumable
  raw uploads with tus 1.0 core semantics (``Upload-Length``, ``Upload-Offset``, 409 on a wrong
  offset, resume after a dropped connection from the last stored offset).
- ``POST /v1/admin/assets``: seed B, attach a finished upload to a title.
- ``GET /v1/admin/content/{id}/processing-status`` and ``POST …/processing/retry``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from msgspec import Meta

from api.deps import Deps
from api.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from api.http import Media, Param, Request, Response, Route, json_response
from api.ingest import service
from api.ingest.models import (
    Accepted,
    AttachAsset,
    ContentMetadata,
    UploadCreated,
    UploadOffset,
)
from api.wire import decode
from media.jobs import ProcessingStatus

TUS_VERSION = "1.0.0"
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _stream(req: Request) -> AsyncIterator[bytes]:
    assert req.stream is not None, "declared streams_body, so the ingress passes the stream"
    return req.stream


def _header_int(req: Request, name: str) -> int:
    raw = req.headers.get(name.lower(), "")
    if not raw.isdigit():
        raise InvalidRequest(f"{name} must be a non-negative integer", details=f"{name}: {raw!r}")
    return int(raw)


def _tus(headers: dict[str, str]) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **headers}


def routes(deps: Deps) -> list[Route]:
    async def upload_content(req: Request) -> Response:
        key = req.headers.get("idempotency-key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise InvalidRequest(
                "Idempotency-Key must be 8-128 letters, digits or ._:-", details="Idempotency-Key"
            )
        accepted = await service.create_content(
            deps,
            body=_stream(req),
            content_type=req.headers.get("content-type", ""),
            idempotency_key=key,
        )
        return json_response(accepted, status=202)

    async def create_upload(req: Request) -> Response:
        created = await service.create_upload(
            deps,
            length=_header_int(req, "Upload-Length"),
            filename=req.headers.get("upload-metadata", "")[:200],
        )
        response = json_response(created, status=201)
        response.headers.update(_tus({"Location": created.upload_url, "Upload-Offset": "0"}))
        return response

    async def upload_offset(req: Request) -> Response:
        upload = await service.get_upload(deps, req.path_params["upload_id"])
        response = json_response(
            UploadOffset(upload_id=upload.id, offset=upload.offset, length=upload.length)
        )
        response.headers.update(
            _tus({"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)})
        )
        return response

    async def append(req: Request) -> Response:
        if req.headers.get("content-type", "") != "application/offset+octet-stream":
            raise InvalidRequest(
                "Send the bytes as application/offset+octet-stream",
                details="Content-Type: expected application/offset+octet-stream",
            )
        upload = await service.append(
            deps,
            upload_id=req.path_params["upload_id"],
            offset=_header_int(req, "Upload-Offset"),
            body=_stream(req),
        )
        return Response(status=204, headers=_tus({"Upload-Offset": str(upload.offset)}))

    async def terminate(req: Request) -> Response:
        await service.terminate(deps, req.path_params["upload_id"])
        return Response(status=204, headers=_tus({}))

    async def attach(req: Request) -> Response:
        accepted = await service.attach(deps, decode(req.body, AttachAsset))
        return json_response(accepted, status=202)

    async def processing_status(req: Request) -> Response:
        return json_response(await service.status(deps, req.path_params["content_id"]))

    async def retry(req: Request) -> Response:
        return json_response(await service.retry(deps, req.path_params["content_id"]), 202)

    uploads = "/v1/admin/uploads/{upload_id}"
    content = "/v1/admin/content/{content_id}"
    return [
        Route(
            "POST",
            "/v1/admin/content",
            upload_content,
            "admin",
            "content",
            streams_body=True,
            summary="Upload a video with its metadata (seed A): a new unpublished title",
            body=Media(
                "multipart/form-data", parts={"video_file": bytes, "metadata": ContentMetadata}
            ),
            params=(Param("Idempotency-Key", where="header"),),
            responses={202: Accepted},
            errors=(InvalidRequest, PayloadTooLarge, Conflict),
        ),
        Route(
            "POST",
            "/v1/admin/uploads",
            create_upload,
            "admin",
            "content",
            summary="Create a resumable upload (tus 1.0 core)",
            params=(
                Param("Upload-Length", Annotated[int, Meta(ge=0)], "header", required=True),
                Param("Upload-Metadata", where="header"),
            ),
            responses={201: UploadCreated},
            errors=(InvalidRequest, PayloadTooLarge),
        ),
        Route(
            "GET",
            uploads,
            upload_offset,
            "admin",
            "content",
            summary="Where a resumable upload stands",
            responses={200: UploadOffset},
            errors=(NotFound,),
        ),
        Route(
            "PATCH",
            uploads,
            append,
            "admin",
            "content",
            streams_body=True,
            summary="Append bytes at Upload-Offset",
            body=Media("application/offset+octet-stream"),
            params=(Param("Upload-Offset", Annotated[int, Meta(ge=0)], "header", required=True),),
            responses={204: None},
            errors=(InvalidRequest, NotFound, Conflict, PayloadTooLarge),
        ),
        Route(
            "DELETE",
            uploads,
            terminate,
            "admin",
            "content",
            summary="Abandon a resumable upload",
            responses={204: None},
            errors=(NotFound, Conflict),
        ),
        Route(
            "POST",
            "/v1/admin/assets",
            attach,
            "admin",
            "content",
            summary="Attach a finished upload to a title (seed B) and start processing",
            body=AttachAsset,
            responses={202: Accepted},
            errors=(InvalidRequest, NotFound, Conflict),
        ),
        Route(
            "GET",
            f"{content}/processing-status",
            processing_status,
            "admin",
            "content",
            summary="The ingest pipeline's progress for a title (seed A)",
            responses={200: ProcessingStatus},
            errors=(NotFound,),
        ),
        Route(
            "POST",
            f"{content}/processing/retry",
            retry,
            "admin",
            "content",
            summary="Retry a failed ingest job",
            responses={202: ProcessingStatus},
            errors=(NotFound, Conflict),
        ),
    ]
