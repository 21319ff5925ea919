"""Every container image in CI and compose is pinned to a version: never `latest`, never untagged."""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PINNED = re.compile(r"^[\w./-]+:(?!latest)[\w.-]*\d[\w.-]*$")


def images() -> list[tuple[str, str]]:
    found = [
        (f"docker-compose.yml: {name}", s["image"])
        for name, s in yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"].items()
        if "image" in s
    ]
    for workflow in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        for job_name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
            containers = [job.get("container"), *(job.get("services") or {}).values()]
            found += [
                (f"{workflow.name}: {job_name}", c if isinstance(c, str) else c["image"]) for c in containers if c
            ]
    return found


def test_there_are_images_to_check():
    assert len(images()) >= 5


@pytest.mark.parametrize(("where", "image"), images())
def test_every_image_is_pinned_to_a_version(where, image):
    assert PINNED.match(image) and "latest" not in image, f"{where}: {image} is not pinned to a version"
