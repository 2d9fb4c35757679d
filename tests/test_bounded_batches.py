"""Batches of briefings at any size (issue 19): without Redis a batch job runs
in a thread of its own, never in the request that asks for it, and a
combined PDF is made briefing by briefing on disk, not as one document."""

import io
import threading

from pypdf import PdfReader
from sqlalchemy import select

from crm.extensions import db
from crm.jobs.models import Job
from factory import create_app
from reports.briefing import batch, combined
from tests.factories import make_client
from tests.helpers import wait_for


def test_without_redis_a_batch_job_runs_outside_the_request(app, client, tmp_path, monkeypatch):
    app.config["JOB_FILES_DIR"] = str(tmp_path)
    make_client("alpha", name="Alpha Dental", tier="key")
    make_client("beta", name="Beta Logistics", tier="key")
    release, ran_in = threading.Event(), []
    real = batch.build_briefing

    def held(*args, **kwargs):
        ran_in.append(threading.current_thread())
        assert release.wait(30), "the test never let the batch go on"
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "build_briefing", held)
    response = client.post("/briefings/jobs", data={"tier": "key", "format": "pdf"})

    # The answer came while the batch was still held at its first briefing.
    assert response.status_code == 303
    job_id = db.session.scalars(select(Job.id)).one()
    assert wait_for(job_id, lambda job: job.status == "running").done == 0
    release.set()
    job = wait_for(job_id, lambda job: job.finished, timeout=60)
    assert job.status == "done", job.error
    assert ran_in and all(thread is not threading.current_thread() for thread in ran_in)
    with client.get(f"/jobs/{job_id}/download") as download:
        document = PdfReader(io.BytesIO(download.data))
    # each briefing a bookmark (the lists under them are each briefing's own headings)
    bookmarks = [item.title for item in document.outline if not isinstance(item, list)]
    assert bookmarks == ["Key clients", "Alpha Dental", "Beta Logistics"]  # the contents first


def test_a_batch_in_a_thread_runs_in_the_app_that_queued_it(app, client, tmp_path):
    """A shared Celery task belongs to the Celery app made last: run through it,
    the job wrote its file under another Flask app's folder, and the download
    of a finished job answered 404 (seen when a test had made an app of its own)."""
    app.config["JOB_FILES_DIR"] = str(tmp_path / "ours")
    create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "TESTING": True,
            "JOB_FILES_DIR": str(tmp_path / "theirs"),
        }
    )
    make_client("alpha", name="Alpha Dental", tier="key")
    assert client.post("/briefings/jobs", data={"tier": "key", "format": "zip"}).status_code == 303
    job = wait_for(db.session.scalars(select(Job.id)).one(), lambda job: job.finished, 60)
    assert job.status == "done", job.error
    assert [path.name for path in (tmp_path / "ours").iterdir()] == [job.result["file"]]
    assert not (tmp_path / "theirs").exists()
    with client.get(f"/jobs/{job.id}/download") as download:
        assert download.status_code == 200


def test_a_combined_pdf_renders_one_briefing_at_a_time(client, monkeypatch):
    for slug in ("alpha", "beta", "gamma"):
        make_client(slug, name=slug.title(), tier="key")
    rendered = []
    real = combined.render_pdf

    def counted(html: str) -> bytes:
        rendered.append(html.count('class="batch-client"'))
        return real(html)

    monkeypatch.setattr(combined, "render_pdf", counted)
    with client.get("/briefings.pdf?tier=key") as response:
        content = response.data
    assert response.status_code == 200
    # one render per briefing, holding one briefing, then the contents page
    assert rendered[:3] == [1, 1, 1] and set(rendered[3:]) == {0}
    pages = PdfReader(io.BytesIO(content)).pages
    cover = " ".join(pages[0].extract_text().split())
    starts = [
        n for n, page in enumerate(pages, 1) if "BRIEFING FOR THE MEETING" in page.extract_text()
    ]
    assert len(starts) == 3 and starts[0] == 2
    # the contents give the page each briefing starts on, known only once all were made
    assert [int(cover.split(name)[1].split()[4]) for name in ("Alpha", "Beta", "Gamma")] == starts
