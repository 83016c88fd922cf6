"""Fail fast on a cloud ``--storage-path`` (``s3://``, ``gs://``) that cannot work.

Tune only notices missing credentials when the first trial tries to write a result, minutes
into a sweep. :func:`check_cloud_uri` runs before Ray starts:

1. It looks for credentials *on this machine only* (no network): the environment variables,
   files and instance metadata hints the AWS / Google SDKs read. None found: ValueError
   naming what was checked.
2. With credentials present, it writes and deletes a small probe object through
   ``pyarrow.fs`` (the filesystem layer Tune itself uses), so a wrong bucket, region or
   permission also fails before any trial starts.

``IMM_RAY_SKIP_STORAGE_CHECK=1`` skips both (e.g. credentials from a source not listed here).
Other URI schemes (``hdfs://``, ``abfs://``, ...) must open with
``pyarrow.fs.FileSystem.from_uri`` (what Tune calls), else ValueError with the reason.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

DMI_DIR = Path("/sys/class/dmi/id")
"""Where Linux exposes the machine's vendor strings (EC2 / GCE instance detection)."""
HYPERVISOR_UUID = Path("/sys/hypervisor/uuid")
"""Xen-based EC2 instances: a UUID starting with ``ec2``."""

SCHEMES = {"s3": "AWS S3", "gs": "Google Cloud Storage", "gcs": "Google Cloud Storage"}
_AWS_PROFILE_KEYS = {"aws_access_key_id", "credential_process", "sso_session",
                     "sso_start_url", "role_arn", "web_identity_token_file",
                     "credential_source"}


def check_cloud_uri(uri: str, env: Mapping[str, str] | None = None,
                    home: Path | None = None) -> str:
    """Return ``uri`` if it is usable, else raise ValueError with the reason."""
    env = os.environ if env is None else env
    scheme = uri.split("://", 1)[0].lower()
    if env.get("IMM_RAY_SKIP_STORAGE_CHECK"):
        return uri
    if scheme not in SCHEMES:
        check_other_scheme(uri, scheme)
        return uri
    if not uri.split("://", 1)[1].strip("/"):
        raise ValueError(f"--storage-path {uri!r} names no bucket")
    home = Path.home() if home is None else home
    finder = aws_credentials if scheme == "s3" else gcp_credentials
    source = finder(env, home)
    if source is None:
        raise ValueError(
            f"--storage-path {uri}: no {SCHEMES[scheme]} credentials on this machine "
            f"(checked {CHECKED[scheme]}). Configure them, pass a local folder, or set "
            "IMM_RAY_SKIP_STORAGE_CHECK=1. Nothing was started.")
    probe_writable(uri)
    return uri


def check_other_scheme(uri: str, scheme: str) -> None:
    """Another scheme (``hdfs://``, ``abfs://``, ...): Tune opens it with
    ``pyarrow.fs.FileSystem.from_uri``; if that fails here, Tune would fail the same way
    later, as a traceback, so refuse it now with the reason."""
    import pyarrow.fs

    try:
        pyarrow.fs.FileSystem.from_uri(uri)
    except Exception as e:  # ArrowInvalid (unknown scheme), OSError (no libhdfs), ...
        reason = " ".join(str(e).split())[:300]
        raise ValueError(
            f"--storage-path {uri}: cannot open a {scheme}:// filesystem on this machine "
            f"({type(e).__name__}: {reason}); use a local folder, s3:// or gs:// (or set "
            "IMM_RAY_SKIP_STORAGE_CHECK=1). Nothing was started.") from None


CHECKED = {
    "s3": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE, "
          "AWS_CONTAINER_CREDENTIALS_*, the AWS_PROFILE/default profile in "
          "~/.aws/credentials and ~/.aws/config, an EC2 instance",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS, gcloud application-default credentials, "
          "a GCE instance",
}
CHECKED["gcs"] = CHECKED["gs"]


def aws_credentials(env: Mapping[str, str], home: Path) -> str | None:
    """Where the AWS SDK would find credentials here, or None (no network access)."""
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "AWS_ACCESS_KEY_ID"
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return "AWS_WEB_IDENTITY_TOKEN_FILE"
    for var in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        if env.get(var):
            return var
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    files = [(Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"),
              profile),
             (Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config"),
              profile if profile == "default" else f"profile {profile}")]
    for path, section in files:
        if _ini_section_has(path, section, _AWS_PROFILE_KEYS):
            return f"{path} [{section}]"
    if _on_instance("aws"):
        return "EC2 instance profile"
    return None


def gcp_credentials(env: Mapping[str, str], home: Path) -> str | None:
    """Where Google's client libraries would find credentials here, or None."""
    key = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key and Path(key).is_file():
        return "GOOGLE_APPLICATION_CREDENTIALS"
    config = Path(env.get("CLOUDSDK_CONFIG") or home / ".config" / "gcloud")
    adc = config / "application_default_credentials.json"
    if adc.is_file():
        return str(adc)
    if _on_instance("gcp"):
        return "GCE service account"
    return None


def _ini_section_has(path: Path, section: str, keys: set[str]) -> bool:
    if not path.is_file():
        return False
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return False
    return parser.has_section(section) and bool(keys & set(parser[section]))


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _on_instance(cloud: str) -> bool:
    """Whether this machine is an EC2 / GCE instance (its metadata server has credentials)."""
    vendors = " ".join(_read(DMI_DIR / f) for f in
                       ("sys_vendor", "product_name", "bios_vendor", "board_vendor"))
    if cloud == "aws":
        return "Amazon EC2" in vendors or _read(HYPERVISOR_UUID).lower().startswith("ec2")
    return "Google" in vendors


def probe_writable(uri: str) -> None:
    """Write and delete ``<uri>/.imm_ray_write_probe_<pid>`` via pyarrow.fs (as Tune does)."""
    import pyarrow.fs

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(uri)
        probe = f"{path.rstrip('/')}/.imm_ray_write_probe_{os.getpid()}"
        with fs.open_output_stream(probe) as f:
            f.write(b"ok")
        fs.delete_file(probe)
    except Exception as e:  # pyarrow raises OSError, ArrowInvalid, ... per backend
        raise ValueError(f"--storage-path {uri!r} is not writable: {e}") from e
