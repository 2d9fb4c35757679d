"""Files a job makes (a ZIP of briefings, a combined PDF), kept under the
instance folder; the job's result holds the path relative to JOB_FILES_DIR."""

import os

from flask import current_app


def files_dir() -> str:
    folder = current_app.config.get("JOB_FILES_DIR") or os.path.join(
        current_app.instance_path, "job-files"
    )
    os.makedirs(folder, exist_ok=True)
    return folder


def write_job_file(job_id: int, download_name: str, body: bytes) -> str:
    """Keep `body` as the job's file; answers its name relative to files_dir().
    Written under a temporary name and renamed, so a job run twice replaces
    the file whole and a download never sees half of one."""
    stored = f"job-{job_id}-{download_name}"
    path = os.path.join(files_dir(), stored)
    with open(f"{path}.part", "wb") as target:
        target.write(body)
    os.replace(f"{path}.part", path)
    return stored


def path_for(relative: str) -> str | None:
    """The absolute path of a job file, or None for a name that leaves the folder."""
    root = os.path.realpath(files_dir())
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.dirname(path) != root:
        return None
    return path
