"""crm-pay's static route (``agent_ui/static_files.py``): a file linked with the version
of its content is kept by browsers for good, anything else is asked for again each time,
text goes out gzip-compressed to a client that takes it."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from flask import Flask, Response, url_for
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from agent_ui.static_files import IMMUTABLE, PRIVATE, REVALIDATE, VersionedStatic
from crm_pay.services.script_inventory import content_version

SCRIPT = b"function pay() { return 'ok'; }\n" * 100  # text, worth compressing
IMAGE = bytes(range(256)) * 8  # not text: never compressed


@pytest.fixture
def static(tmp_path: Path) -> Path:
    folder = tmp_path / "static"
    (folder / "js").mkdir(parents=True)
    (folder / "js" / "pay.js").write_bytes(SCRIPT)
    (folder / "logo.png").write_bytes(IMAGE)
    (tmp_path / "secret.txt").write_text("outside the static folder")
    return folder


@pytest.fixture
def app(static: Path) -> Flask:
    app = Flask(__name__, static_folder=None)
    bp = VersionedStatic("ours", __name__, static_folder=str(static), static_url_path="/s")
    app.register_blueprint(bp, url_prefix="/pay")
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _get(client: FlaskClient, url: str, **headers: str) -> TestResponse:
    """The answer to ``url``, read whole and closed (a file's answer holds it open)."""
    with client.get(url, headers={k.replace("_", "-"): v for k, v in headers.items()}) as resp:
        resp.get_data()
    return resp


def _link(app: Flask, filename: str) -> str:
    with app.test_request_context():
        return url_for("ours.static", filename=filename)


def test_a_link_carries_the_version_of_the_content_and_is_kept_for_good(
    app: Flask, client: FlaskClient
) -> None:
    link = _link(app, "js/pay.js")
    assert link == f"/pay/s/js/pay.js?v={content_version(SCRIPT)}"
    served = _get(client, link)
    assert served.status_code == 200 and served.data == SCRIPT
    assert served.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert "Expires" not in served.headers


def test_without_the_current_version_the_browser_asks_again_each_time(
    client: FlaskClient,
) -> None:
    for url in ("/pay/s/js/pay.js", "/pay/s/js/pay.js?v=0123456789abcdef", "/pay/s/js/pay.js?v="):
        served = _get(client, url)
        assert served.status_code == 200 and served.data == SCRIPT  # the file as it is now
        assert served.headers["Cache-Control"] == REVALIDATE == "no-cache"
    # asking again costs a 304 while the file is unchanged
    etag = _get(client, "/pay/s/logo.png").headers["ETag"]
    again = _get(client, "/pay/s/logo.png", If_None_Match=etag)
    assert again.status_code == 304 and again.data == b""
    assert again.headers["Cache-Control"] == "no-cache"


def test_a_changed_file_gets_a_new_link_and_its_old_link_is_no_longer_kept(
    app: Flask, client: FlaskClient, static: Path
) -> None:
    old = _link(app, "js/pay.js")
    changed = SCRIPT + b"// a fix\n"
    (static / "js" / "pay.js").write_bytes(changed)
    stat = os.stat(static / "js" / "pay.js")
    os.utime(static / "js" / "pay.js", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    new = _link(app, "js/pay.js")
    assert new != old and new.endswith(f"?v={content_version(changed)}")
    stale = _get(client, old)
    assert stale.data == changed and stale.headers["Cache-Control"] == "no-cache"
    assert _get(client, new).headers["Cache-Control"] == IMMUTABLE


def test_text_goes_out_compressed_to_a_client_that_takes_gzip(
    app: Flask, client: FlaskClient
) -> None:
    link = _link(app, "js/pay.js")
    packed = _get(client, link, Accept_Encoding="gzip, deflate, br")
    assert packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Vary"] == "Accept-Encoding"
    assert "javascript" in packed.headers["Content-Type"]
    assert packed.headers["Cache-Control"] == IMMUTABLE
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(SCRIPT) // 10
    assert gzip.decompress(packed.data) == SCRIPT
    # a client that does not say gzip (or refuses it) gets the file as it is, same Vary
    for accept in (None, "identity", "gzip;q=0"):
        plain = _get(client, link, **({"Accept_Encoding": accept} if accept else {}))
        assert plain.data == SCRIPT and "Content-Encoding" not in plain.headers
        assert plain.headers["Vary"] == "Accept-Encoding"
    # the compressed form has its own ETag, and answers 304 to it
    etag = packed.headers["ETag"]
    assert etag != plain.headers["ETag"]
    again = _get(client, link, Accept_Encoding="gzip", If_None_Match=etag)
    assert again.status_code == 304 and again.headers["Vary"] == "Accept-Encoding"
    # a range is a range of the file itself
    part = _get(client, link, Accept_Encoding="gzip", Range="bytes=0-7")
    assert part.status_code == 206 and part.data == SCRIPT[:8]
    assert "Content-Encoding" not in part.headers


def test_images_are_not_compressed_and_do_not_vary(app: Flask, client: FlaskClient) -> None:
    served = _get(client, _link(app, "logo.png"), Accept_Encoding="gzip")
    assert served.data == IMAGE and "Content-Encoding" not in served.headers
    assert "Vary" not in served.headers
    assert served.headers["Cache-Control"] == IMMUTABLE


def test_a_missing_file_or_a_path_outside_the_folder_is_not_found(
    app: Flask, client: FlaskClient
) -> None:
    assert _link(app, "js/none.js") == "/pay/s/js/none.js"  # no version for no file
    for url in ("/pay/s/js/none.js", "/pay/s/js/none.js?v=x", "/pay/s/../secret.txt"):
        assert _get(client, url).status_code == 404
    assert _get(client, "/pay/s/js").status_code == 404  # a folder
    # and the files that are there still are served
    assert _get(client, "/pay/s/js/pay.js").data == SCRIPT


def test_an_answer_that_sets_a_cookie_is_never_kept_by_a_shared_cache(
    static: Path,
) -> None:
    app = Flask(__name__, static_folder=None)
    bp = VersionedStatic("ours", __name__, static_folder=str(static), static_url_path="/s")

    @bp.after_request
    def _session(resp: Response) -> Response:  # e.g. a sliding sign-in cookie
        resp.set_cookie("session", "someone")
        return resp

    app.register_blueprint(bp, url_prefix="/pay")
    served = _get(app.test_client(), _link(app, "js/pay.js"))
    assert served.data == SCRIPT and "session=someone" in served.headers["Set-Cookie"]
    assert served.headers["Cache-Control"] == PRIVATE == "private, no-cache"
