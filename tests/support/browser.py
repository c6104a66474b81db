"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium.

``chrome()`` installs the two Debian packages when they are missing and apt-get can (as root);
it skips the test, saying why, only when Chromium cannot be had."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO

__all__ = ["ARTIFACTS", "chrome"]

#: where browser tests leave screenshots (CI keeps the folder as a test artefact)
ARTIFACTS = Path(os.environ.get("OPENMLINK_TEST_ARTIFACTS", REPO / "test-artifacts"))


def _install() -> str | None:
    """None when chromium and chromedriver are there (installing them if needed), else why not."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return None
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return "chromium/chromium-driver are not installed and apt-get is not usable here"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if p.returncode:
            return f"{' '.join(cmd)} failed: {p.stderr.strip()[-300:]}"
    return None if shutil.which("chromium") and shutil.which("chromedriver") else \
        "apt-get installed chromium but chromium/chromedriver are still not on PATH"


def chrome(width: int = 1600, height: int = 1260) -> Any:
    """A headless Chromium WebDriver (the caller quits it)."""
    why = _install()
    if why is not None:
        pytest.skip(f"headless Chromium unavailable: {why}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}"):
        opts.add_argument(a)
    opts.binary_location = str(shutil.which("chromium"))
    # Debian's driver, never one fetched by selenium-manager
    return webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))), options=opts)
