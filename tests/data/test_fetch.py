"""pooch-based fetching against a local HTTP server started and stopped by the test."""

import functools
import hashlib
import http.server
import threading

import pytest

from harness.data import fetch
from harness.data.fetch import FetchError, Remote, fetch_file, fetch_protocol, protocol_files


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_fetch_verifies_sha256_and_removes_a_mismatch(server, tmp_path):
    served, url = server
    (served / "usps.h5").write_bytes(b"digits")
    good = "sha256:" + hashlib.sha256(b"digits").hexdigest()
    dest = tmp_path / "data" / "usps.h5"
    assert fetch_file(Remote(url + "usps.h5", good), dest).read_bytes() == b"digits"
    dest.unlink()
    wrong = "sha256:" + "0" * 64
    with pytest.raises(FetchError) as err:
        fetch_file(Remote(url + "usps.h5", wrong), dest)
    message = str(err.value)
    assert "0" * 64 in message and hashlib.sha256(b"digits").hexdigest() in message
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_protocol_fetch_uses_the_registry_and_names_manual_steps(server, tmp_path, monkeypatch):
    served, url = server
    (served / "usps.h5").write_bytes(b"h5")
    monkeypatch.setitem(fetch.REGISTRY, "usps", {
        "usps.h5": Remote(url + "usps.h5", "sha256:" + hashlib.sha256(b"h5").hexdigest())})
    assert protocol_files("digits_mnist5k_usps") == [("usps", "usps.h5", ".")]
    assert fetch_protocol("digits_mnist5k_usps", tmp_path) == [tmp_path / "usps.h5"]
    with pytest.raises(FetchError, match="mnist_m_test.npz"):
        fetch_protocol("digits_mnist5k_mnistm", tmp_path)


def test_every_file_of_the_full_protocols_is_registered_or_manual():
    for name in ("digits_mnist_usps", "digits_usps_mnist", "digits_svhn_mnist",
                 "digits_mnist_mnistm"):
        for source, file, _ in protocol_files(name):
            assert source in fetch.MANUAL or file in fetch.REGISTRY[source], (name, file)
