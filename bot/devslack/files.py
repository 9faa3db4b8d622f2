"""Files: the two-step upload the bot uses (``files.getUploadURLExternal``, a POST of the bytes to the upload URL,
``files.completeUploadExternal`` sharing them as a message) and the download of a shared file."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from bot.devslack.messages import Messages
from bot.devslack.model import ApiError, Upload, copied, web_api
from bot.devslack.workspace import Workspace

_TEXT_TYPES = ("txt", "text", "md", "json", "log")


class Files:
    """Uploads waiting to be completed, and files shared in messages."""

    def __init__(self, ws: Workspace, messages: Messages) -> None:
        self.ws = ws
        self.messages = messages

    @web_api("files.getUploadURLExternal")
    def get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = args.get("filename"), args.get("length")
        try:
            size = int(length) if length is not None else -1
        except (TypeError, ValueError):
            size = -1
        if not isinstance(filename, str) or not filename or size < 0:
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": ["filename and a non-negative length are required"]}
            )
        fid = self.ws.new_id("F")
        self.ws.uploads[fid] = Upload(id=fid, filename=filename, length=size)
        return {"upload_url": f"{self.ws.base_url}/_upload/{fid}", "file_id": fid}

    @web_api("files.completeUploadExternal")
    def complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        uploads = self._uploaded(args.get("files"))
        channel_refs = [c for c in str(args.get("channels") or "").split(",") if c]
        if args.get("channel_id"):
            channel_refs.insert(0, str(args["channel_id"]))
        channel_ids = [self.ws.require_channel(ref, allow_names=False) for ref in channel_refs]
        thread_ts = self.messages.thread_parent(channel_ids[0], args.get("thread_ts")) if channel_ids else None
        now = int(time.time())
        stored = [_shared_file(upload, title, now) for upload, title in uploads]
        for upload, _ in uploads:
            self.ws.uploads.pop(upload.id, None)
        comment = args.get("initial_comment")
        for cid in channel_ids:
            self.messages.post(cid, str(comment or ""), None, thread_ts=thread_ts, files=copied(stored))
        return {"files": [self.messages.file_object(f) for f in stored]}

    def _uploaded(self, files: Any) -> list[tuple[Upload, str]]:
        """``files`` of files.completeUploadExternal: each an upload whose bytes came, with its title."""
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and "id" in f for f in files):
            raise ApiError("invalid_arguments", response_metadata={"messages": ["files must be [{id, title}]"]})
        uploads: list[tuple[Upload, str]] = []
        for f in files:
            upload = self.ws.uploads.get(str(f["id"]))
            if upload is None or upload.content is None:
                raise ApiError("file_not_found")
            uploads.append((upload, str(f.get("title") or upload.filename)))
        return uploads

    async def handle_upload(self, request: web.Request) -> web.Response:
        """``POST /_upload/{id}``: the file's bytes, raw or as a multipart form."""
        upload = self.ws.uploads.get(request.match_info["id"])
        if upload is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file") or form.get("filename")
            data = part.file.read() if isinstance(part, web.FileField) else str(part or "").encode()
        else:
            data = await request.read()
        upload.content = data
        self.ws.touch()
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def handle_download(self, request: web.Request) -> web.Response:
        """``GET /_files/{id}``: a shared file's content (``url_private``)."""
        fid = request.match_info["id"]
        for messages in self.ws.messages.values():
            for m in messages:
                for f in m.files:
                    if f["id"] == fid:
                        return web.Response(text=str(f["content"]), content_type="text/plain")
        return web.Response(status=404, text="file_not_found")


def _shared_file(upload: Upload, title: str, now: int) -> dict[str, Any]:
    """An upload as the file a message holds."""
    data = upload.content or b""
    ext = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else "text"
    return {
        "id": upload.id,
        "name": upload.filename,
        "title": title,
        "size": len(data),
        "mimetype": "text/plain" if ext in _TEXT_TYPES else "application/octet-stream",
        "filetype": ext,
        "created": now,
        "content": data.decode("utf-8", errors="replace"),
    }
