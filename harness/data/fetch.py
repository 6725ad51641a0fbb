"""``harness data fetch``: download a protocol's digit files with pooch, checksums pinned.

Only datasets with a stable public URL are fetched; the checksum of every file
is pinned here, and a file whose checksum differs is removed (pooch downloads
to a temporary file and keeps it only when the hash matches). sha256 is pinned
where it is known from a traced copy; for the files whose publishers only give
md5 (the values torchvision pins for the same URLs) pooch verifies md5.
"""

from dataclasses import dataclass
from pathlib import Path

from harness.data.digits import DIGIT_FILES
from harness.errors import HarnessError


class FetchError(HarnessError, RuntimeError):
    """A file could not be fetched, or arrived with the wrong checksum."""


@dataclass(frozen=True)
class Remote:
    url: str
    #: pooch's ``known_hash``: ``sha256:<hex>`` or ``md5:<hex>``.
    known_hash: str


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's MNIST mirror
_LIBSVM = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
_SVHN = "http://ufldl.stanford.edu/housenumbers/"
# The usps.h5 packaging (7,291 / 2,007, values in [0, 1]) at a pinned commit.
_USPS_H5 = ("https://raw.githubusercontent.com/niuers/Learning-From-Data-A-Short-Course/"
            "879a698b960e5867f7c2b11f8938fa89c3d21839/data/usps.h5")

#: digit_files source -> file name -> where it comes from and its checksum.
REGISTRY: dict[str, dict[str, Remote]] = {
    "mnist": {  # md5 as pinned by torchvision.datasets.MNIST.resources
        "train-images-idx3-ubyte.gz": Remote(_MNIST + "train-images-idx3-ubyte.gz",
                                             "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels-idx1-ubyte.gz": Remote(_MNIST + "train-labels-idx1-ubyte.gz",
                                             "md5:d53e105ee54ea40749a09fcbcd1e9432"),
        "t10k-images-idx3-ubyte.gz": Remote(_MNIST + "t10k-images-idx3-ubyte.gz",
                                            "md5:9fb629c4189551a2d022fa330f9573f3"),
        "t10k-labels-idx1-ubyte.gz": Remote(_MNIST + "t10k-labels-idx1-ubyte.gz",
                                            "md5:ec29112dd5afa0611ce80d1b7f02629c"),
    },
    "usps": {"usps.h5": Remote(
        _USPS_H5, "sha256:734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36")},
    "usps_libsvm": {  # md5 as pinned by torchvision.datasets.USPS
        "usps.bz2": Remote(_LIBSVM + "usps.bz2", "md5:ec16c51db3855ca6c91edd34d0e9b197"),
        "usps.t.bz2": Remote(_LIBSVM + "usps.t.bz2", "md5:8ea070ee2aca1ac39742fdd1ef5ed118"),
    },
    "svhn": {  # md5 as pinned by torchvision.datasets.SVHN
        "train_32x32.mat": Remote(_SVHN + "train_32x32.mat",
                                  "md5:e26dedcc434d2e4c54c9b2d4a06d8373"),
        "test_32x32.mat": Remote(_SVHN + "test_32x32.mat",
                                 "md5:eb5a983be6a315427106f1b164d9cef3"),
    },
}

#: Datasets without a stable URL: what the user does instead.
MANUAL = {
    "mnistm": "download mnist_m.tar.gz from the authors' page (Ganin & Lempitsky, "
              "http://yaroslav.ganin.net/) and unpack it so that mnist_m_train/, "
              "mnist_m_train_labels.txt, mnist_m_test/ and mnist_m_test_labels.txt are in {dir}",
    "syndigits": "download the Syn.Digits cropped digits (Ganin & Lempitsky 2015, "
                 "http://yaroslav.ganin.net/) and put synth_train_32x32.mat and "
                 "synth_test_32x32.mat in {dir}",
    "mnistm_npz": "mnist_m_test.npz is a conversion of the MNIST-M test PNGs kept with the "
                  "offline digits kit; copy it to {dir}",
}


def fetch_file(remote: Remote, dest: Path) -> Path:
    """Download ``remote`` to ``dest`` unless a copy with the right checksum is there."""
    import pooch

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        path = pooch.retrieve(remote.url, known_hash=remote.known_hash, fname=dest.name,
                              path=dest.parent, progressbar=False)
    except ValueError as exc:  # pooch's checksum mismatch names both hashes
        dest.unlink(missing_ok=True)
        raise FetchError(
            f"{dest}: checksum mismatch for {remote.url} (expected {remote.known_hash}): {exc} "
            "The file was removed. Retry; if it persists the server's copy changed: do not "
            "use it for comparable results."
        ) from None
    except OSError as exc:  # network errors (requests' are OSError subclasses)
        raise FetchError(f"{dest}: download of {remote.url} failed ({exc}); check the "
                         "network or put the file there by hand") from None
    return Path(path)


def protocol_files(protocol: str) -> list[tuple[str, str, str]]:
    """(digit source, file name, folder under the data root) for every file a protocol reads."""
    from harness.protocol import load_protocol

    p = load_protocol(protocol)
    wanted = []
    for domain in (p.source, p.target):
        if domain.dataset != "digit_files":
            continue  # ships inside a pip wheel, or is not a digit dataset
        source = domain.options["source"]
        file_split = domain.options.get("file_split")
        splits = {file_split} if file_split else {domain.train_split, domain.test_split}
        for split in sorted(splits):
            for name in DIGIT_FILES[source][split][0]:
                item = (source, name, domain.data_root or ".")
                if item not in wanted:
                    wanted.append(item)
    return wanted


def fetch_protocol(protocol: str, data_root: Path) -> list[Path]:
    """Fetch every file of a protocol into ``data_root``; manual steps are one error."""
    fetched, manual = [], []
    for source, name, folder in protocol_files(protocol):
        dest_dir = Path(data_root) / folder
        if source in MANUAL:
            if not (dest_dir / name).exists():
                manual.append(f"{dest_dir / name}: " + MANUAL[source].format(dir=dest_dir))
            continue
        fetched.append(fetch_file(REGISTRY[source][name], dest_dir / name))
    if manual:
        raise FetchError("not downloadable, fetch by hand:\n  " + "\n  ".join(manual))
    return fetched
