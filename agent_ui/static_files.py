"""crm-pay's own static files: linked versioned by content, cached and compressed.

Every ``url_for('<blueprint>.static', filename=...)`` of a :class:`VersionedStatic`
blueprint carries ``?v=<content version>`` of the file served now
(:func:`crm_pay.services.script_inventory.content_version`; the pay page's script tags
carry the same, from the bytes their SRI pin is taken from). The static route answers:

- ``Cache-Control: public, max-age=31536000, immutable`` when ``v`` is the version of
  the file it serves: a changed file has another URL, so this one never goes stale;
- ``Cache-Control: no-cache`` otherwise (no ``v``, or an old one): the browser may keep
  the file but asks again each time, and gets ``304`` while its ``ETag`` still matches;
- ``Cache-Control: private, no-cache`` when something set a cookie on the answer (no
  shared cache may keep a cookie);
- text files (scripts, styles, SVG, JSON) gzip-compressed to a client that accepts it,
  with ``Vary: Accept-Encoding`` on every answer for such a file, compressed or not; the
  compressed body is made once per file version and kept in memory.

These headers are set by the blueprint's first ``after_request`` function, which Flask
runs last of the blueprint's: the pages' ``no-store`` and their ``Vary: Accept-Language,
Cookie`` are for pages, not for a file that is the same for everyone.

Only the routes of the blueprints made with this class change (the pay page's and the
console's): a host app's static folder and its ``SEND_FILE_MAX_AGE_DEFAULT`` are its own.
"""

from __future__ import annotations

import gzip
import os
import threading
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.security import safe_join

from crm_pay.services.script_inventory import content_version

__all__ = ["IMMUTABLE", "PRIVATE", "REVALIDATE", "VersionedStatic"]

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PRIVATE = "private, no-cache"
# What is worth compressing: text. Images and fonts are compressed formats already.
_TEXT = (".js", ".mjs", ".css", ".svg", ".json", ".map", ".txt", ".html")
_MIN_GZIP = 1024  # below this the headers outweigh the saving


@dataclass(frozen=True)
class _Served:
    """What the route knows about one file at one state on disk."""

    stamp: tuple[int, int]  # (mtime_ns, size): a new stamp means read it again
    version: str
    gzipped: bytes | None  # None: not text, too small, or no smaller compressed


class VersionedStatic(Blueprint):
    """A blueprint whose static route serves its files versioned by content (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._files: dict[str, _Served] = {}
        self._lock = threading.Lock()
        self.url_defaults(self._add_version)
        self.after_request(self._caching)

    def _served(self, filename: str) -> _Served | None:
        """The file ``filename`` names in the static folder now, or ``None``."""
        path = safe_join(str(self.static_folder), filename)
        if path is None:
            return None
        try:
            info = os.stat(path)
        except OSError:
            return None
        stamp = (info.st_mtime_ns, info.st_size)
        found = self._files.get(path)
        if found is not None and found.stamp == stamp:
            return found
        try:
            with open(path, "rb") as file:
                body = file.read()
        except OSError:  # a folder, or gone since the stat
            return None
        gzipped = None
        if path.endswith(_TEXT) and len(body) >= _MIN_GZIP:
            packed = gzip.compress(body, compresslevel=9, mtime=0)
            gzipped = packed if len(packed) < len(body) else None
        found = _Served(stamp, content_version(body), gzipped)
        with self._lock:
            self._files[path] = found
        return found

    def _add_version(self, endpoint: str, values: dict[str, Any]) -> None:
        if endpoint != f"{self.name}.static" or "v" in values:
            return
        found = self._served(str(values.get("filename", "")))
        if found is not None:
            values["v"] = found.version

    def send_static_file(self, filename: str) -> Response:
        resp = super().send_static_file(filename)  # 404, conditional answers, ETag
        found = self._served(filename)
        if found is None or found.gzipped is None or resp.status_code != 200:
            return resp
        if request.accept_encodings["gzip"] <= 0 or "Range" in request.headers:
            return resp
        return _compressed(resp, found.gzipped)

    def _caching(self, resp: Response) -> Response:
        """The caching headers of a static file's answer (200, 206, 304; see the module).
        One that sets a cookie is kept by no shared cache, versioned or not."""
        if request.endpoint != f"{self.name}.static" or resp.status_code not in (200, 206, 304):
            return resp
        found = self._served(str((request.view_args or {}).get("filename", "")))
        if found is None:
            return resp
        versioned = request.args.get("v") == found.version
        if "Set-Cookie" in resp.headers:
            resp.headers["Cache-Control"] = PRIVATE
        else:
            resp.headers["Cache-Control"] = IMMUTABLE if versioned else REVALIDATE
        resp.headers.pop("Expires", None)
        if found.gzipped is None:
            resp.headers.pop("Vary", None)
        else:
            resp.headers["Vary"] = "Accept-Encoding"
        return resp


def _compressed(resp: Response, body: bytes) -> Response:
    """``resp`` (the file as is) answered with ``body``, its gzip form, instead: the same
    type and date, its own ETag (another representation of the file)."""
    etag, _ = resp.get_etag()
    packed = Response(body, status=200, content_type=resp.content_type)
    for name in ("Last-Modified",):
        if name in resp.headers:
            packed.headers[name] = resp.headers[name]
    packed.headers["Content-Encoding"] = "gzip"
    if etag:
        packed.set_etag(f"{etag}-gzip")
    resp.close()  # the file it would have sent
    packed.make_conditional(request)
    return packed
