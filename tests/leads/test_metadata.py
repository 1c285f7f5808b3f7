"""leads.metadata against exiftool (the reference reader, `exiftool -j -n`) on generated images and videos, and on
hostile EXIF: the field is left out or the item gets a note, nothing raises, memory stays bounded, the scan goes on.
All files are generated here: synthetic scenes, EXIF written by tests/leads/exif_files.py, videos by PyAV."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tracemalloc
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from hashwarden.config import ScanSettings
from hashwarden.leads.metadata import read_image, read_video, report_fields
from hashwarden.scan import run_scan
from hashwarden.signals.vpdq import hash_video
from tests.leads.exif_files import (
    absurd_count_exif, bad_utf8_exif, camera_exif, huge_exif, looping_exif, photo, xmp_packet,
)


def _exiftool(paths: list[Path]) -> dict[str, dict[str, Any]]:
    if shutil.which("exiftool") is None:  # a missing tool fails: it is not a pass
        pytest.fail("exiftool missing: make test installs it (Makefile TEST_TOOLS, libimage-exiftool-perl)")
    out = subprocess.run(["exiftool", "-j", "-n", *map(str, paths)], capture_output=True, text=True, check=True)
    return {Path(tags["SourceFile"]).name: tags for tags in json.loads(out.stdout)}


def _zone(offset: str | None) -> str:
    if not offset:
        return ""
    return offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"


def _expected(tags: dict[str, Any]) -> dict[str, Any]:
    """exiftool's tags as report.json's `metadata` (the same field choices, made from exiftool's names)."""
    out: dict[str, Any] = {}
    for name, keys in (("make", ("Make",)), ("model", ("Model",)), ("serial", ("SerialNumber",)),
                       ("lens_serial", ("LensSerialNumber",)),
                       ("software", ("Software", "SoftwareVersion", "Encoder", "CreatorTool"))):
        for key in keys:
            if tags.get(key) not in (None, ""):
                out[name] = str(tags[key])
                break
    if "DateTimeOriginal" in tags:
        date, time = tags["DateTimeOriginal"].split(" ")
        out["captured"] = f"{date.replace(':', '-')}T{time}{_zone(tags.get('OffsetTimeOriginal'))}"
    elif "CreationDate" in tags:  # QuickTime's com.apple.quicktime.creationdate, with its zone
        date, time = tags["CreationDate"].split(" ")
        out["captured"] = f"{date.replace(':', '-')}T{time[:8]}{_zone(time[8:])}"
    elif tags.get("CreateDate", "0000").split(":")[0] != "0000":  # QuickTime's CreateDate is UTC
        date, time = tags["CreateDate"].split(" ")
        out["captured"] = f"{date.replace(':', '-')}T{time}+00:00"
    if "GPSLatitude" in tags:
        out["gps"] = {"latitude": tags["GPSLatitude"], "longitude": tags["GPSLongitude"]}
    if tags.get("ThumbnailLength"):
        out["has_thumbnail"] = True
    return out


def _same(ours: dict[str, Any], reference: dict[str, Any]) -> None:
    assert ours.keys() == reference.keys(), (ours, reference)
    for key, value in reference.items():
        if key == "gps":
            for axis in ("latitude", "longitude"):
                assert math.isclose(ours[key][axis], value[axis], abs_tol=1e-4), (ours, reference)
        else:
            assert ours[key] == value, (key, ours, reference)


IMAGES = {
    "camera.jpg": ("JPEG", camera_exif()),
    "south-west.jpg": ("JPEG", camera_exif(gps=(-33.8568, -151.2153), offset="-05:30", serial="Z9-77",
                                           thumbnail=False)),
    "no-zone.jpg": ("JPEG", camera_exif(offset=None, gps=None, lens_serial=None)),
    "phone.png": ("PNG", camera_exif(make="Google", model="Pixel 7", software="HDR+ 1.0", serial=None)),
    "phone.webp": ("WEBP", camera_exif(make="Apple", model="iPhone 12", software="17.1", serial=None, gps=(0.5, 0.25))),
    "scanner.tif": ("TIFF", camera_exif(make="Epson", model="V600", software="Epson Scan 2", thumbnail=False)),
    "plain.jpg": ("JPEG", None),
}
XMP = {  # images whose only metadata is XMP (an edited copy: the editor dropped EXIF, kept the camera in XMP)
    "edited.jpg": xmp_packet(tiff_Make="Fujifilm", tiff_Model="X-T4", aux_SerialNumber="FX-99",
                             aux_LensSerialNumber="L-7", xmp_CreatorTool="Lightroom 13.0"),
}


def test_images_agree_with_exiftool(tmp_path: Path) -> None:
    paths = [photo(tmp_path / name, seed, exif, fmt=fmt) for seed, (name, (fmt, exif)) in enumerate(IMAGES.items())]
    paths += [photo(tmp_path / name, 50, None, xmp=xmp) for name, xmp in XMP.items()]
    reference = _exiftool(paths)
    for path in paths:
        with Image.open(path) as image:
            image.load()
            found = read_image(image)
        assert found.problem is None
        _same(report_fields(found.fields), _expected(reference[path.name]))
    assert report_fields(read_image(Image.open(tmp_path / "camera.jpg")).fields)["serial"] == "SN-0001"
    assert report_fields(read_image(Image.open(tmp_path / "edited.jpg")).fields) == {
        "make": "Fujifilm", "model": "X-T4", "serial": "FX-99", "lens_serial": "L-7", "software": "Lightroom 13.0"}


def _video(path: Path, tags: dict[str, str], options: dict[str, str] | None = None) -> Path:
    with av.open(str(path), mode="w", options=options or {}) as container:
        container.metadata.update(tags)
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_videos_agree_with_exiftool(tmp_path: Path) -> None:
    paths = [
        _video(tmp_path / "phone.mov", {
            "com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 12",
            "com.apple.quicktime.software": "17.1", "com.apple.quicktime.creationdate": "2024-06-01T08:30:00+0200",
            "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/"}, {"movflags": "use_metadata_tags"}),
        _video(tmp_path / "camera.mov", {"make": "Samsung", "model": "SM-G991B", "location": "+51.5074-000.1278/",
                                         "creation_time": "2024-06-02T09:00:00.000000Z"}),
        _video(tmp_path / "camera.mp4", {"creation_time": "2024-06-02T09:00:00.000000Z",
                                         "location": "+51.5074-000.1278/"}),
    ]
    reference = _exiftool(paths)
    for path in paths:
        fields = report_fields(read_video(hash_video(str(path)).tags).fields)
        _same(fields, _expected(reference[path.name]))
    assert report_fields(read_video(hash_video(str(paths[0])).tags).fields)["captured"] == "2024-06-01T08:30:00+02:00"


HOSTILE = {
    "loop.jpg": ("JPEG", looping_exif()),
    "absurd.jpg": ("JPEG", absurd_count_exif()),
    "bad-utf8.jpg": ("JPEG", bad_utf8_exif()),
    "huge.png": ("PNG", huge_exif()),
    "truncated.jpg": ("JPEG", camera_exif()[:60]),
}


def test_hostile_exif_leaves_fields_out_within_bounded_memory(tmp_path: Path) -> None:
    for seed, (name, (fmt, exif)) in enumerate(HOSTILE.items()):
        path = photo(tmp_path / name, seed, exif, fmt=fmt)
        with Image.open(path) as image:
            image.load()
            tracemalloc.start()
            found = read_image(image)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < 2 << 20, (name, peak)  # the huge EXIF (3 MB) is refused before it is parsed
        fields = report_fields(found.fields)
        for value in fields.values():
            assert not isinstance(value, str) or (value.isprintable() and len(value) <= 128)
        if name == "loop.jpg":
            assert fields == {"make": "Loop"}  # the loop is read once: IFD0 as itself
        if name == "bad-utf8.jpg":  # bad bytes shown as U+FFFD, the escape removed; absurd date and serial left out
            assert fields == {"make": "Can\ufffd\ufffdon[31m", "model": "\ufffd( model", "gps": {}}
        if name == "huge.png":
            assert fields == {} and "above the limit" in found.problem


def test_a_scan_of_hostile_files_goes_on(tmp_path: Path, fresh_store) -> None:
    seized = tmp_path / "seized"
    for seed, (name, (fmt, exif)) in enumerate(HOSTILE.items()):
        photo(seized / name, seed, exif, fmt=fmt)
    photo(seized / "good.jpg", 99, camera_exif())
    out = tmp_path / "out"
    run_scan([str(seized)], "CASE-HOSTILE", out, fresh_store, ScanSettings(workers=1, allow_empty=True), command=["t"])
    items = {item["path"]: item for item in json.loads((out / "report.json").read_text())["items"]}
    assert set(items) == {*HOSTILE, "good.jpg"}
    for item in items.values():  # tags never decide a verdict: every item is hashed and unknown
        assert item["status"] == "unknown" and item["pdq"] and "error" not in item
    assert "metadata: EXIF of 3,240," in items["huge.png"]["note"] and "metadata" not in items["huge.png"]
    assert items["good.jpg"]["metadata"]["serial"] == "SN-0001" and items["good.jpg"]["metadata"]["has_thumbnail"]


def test_tags_of_an_image_refused_as_too_large_are_read_without_its_pixels(tmp_path: Path) -> None:
    """decode_pixels hands the opened image to `inspect` even when it refuses it: the header's tags are read, the
    pixels never decoded (a PNG whose eXIf is not yet reached is not loaded to find it)."""
    from hashwarden.demo.synthetic import png_bytes_with_declared_size
    from hashwarden.errors import ImageTooLarge
    from hashwarden.signals.image import decode_pixels

    found = []
    data = photo(tmp_path / "big.jpg", 1, camera_exif(), size=(640, 480)).read_bytes()
    with pytest.raises(ImageTooLarge):
        decode_pixels(data, max_pixels=1000, inspect=lambda image: found.append(read_image(image)))
    assert report_fields(found[0].fields)["serial"] == "SN-0001"

    tracemalloc.start()
    with pytest.raises(ImageTooLarge):  # 100,000 x 100,000 declared in ~1 KB
        decode_pixels(png_bytes_with_declared_size(100_000, 100_000),
                      inspect=lambda image: found.append(read_image(image)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert found[1].fields == {} and found[1].problem is None and peak < 16 << 20  # 10^10 pixels never allocated


def test_a_scanned_video_carries_its_tags_as_metadata(tmp_path: Path, fresh_store) -> None:
    """The scan reads a video's tags from the container it opens for vPDQ (worker._add_vpdq), inside a zip too."""
    import zipfile

    seized = tmp_path / "seized"
    seized.mkdir()
    tags = {"com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 12",
            "com.apple.quicktime.creationdate": "2024-06-01T08:30:00+0200"}
    video = _video(seized / "clip.mov", tags, {"movflags": "use_metadata_tags"})
    with zipfile.ZipFile(seized / "phone.zip", "w") as archive:
        archive.write(video, "DCIM/clip.mov")
    out = tmp_path / "out"
    run_scan([str(seized)], "CASE-VIDEO", out, fresh_store, ScanSettings(workers=1, allow_empty=True), command=["t"])
    items = {item["path"]: item for item in json.loads((out / "report.json").read_text())["items"]}
    expected = {"make": "Apple", "model": "iPhone 12", "software": items["clip.mov"]["metadata"].get("software"),
                "captured": "2024-06-01T08:30:00+02:00"}
    assert items["clip.mov"]["metadata"] == items["phone.zip!/DCIM/clip.mov"]["metadata"] == expected
    assert expected["software"].startswith("Lavf")  # the muxer's ©swr/encoder tag: the software that wrote it
