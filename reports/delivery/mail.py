"""Sending e-mail by SMTP with the standard library (email, smtplib).

TOUCHLINE_SMTP_URL says where: `smtp://host:port` (plain, as a local relay
or a test server takes it), `smtp://user:password@host:587` (STARTTLS is
used when the server offers it) or `smtps://user:password@host:465` (TLS
from the start). TOUCHLINE_MAIL_FROM is the sender.
"""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit


class MailError(RuntimeError):
    """The message could not be handed to the SMTP server; says why."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str | None) -> "SmtpSettings":
        if not url:
            raise MailError("TOUCHLINE_SMTP_URL is not set: no way to send e-mail")
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailError(
                f"TOUCHLINE_SMTP_URL must be smtp://host:port or smtps://..., not {url!r}"
            )
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def send(settings: SmtpSettings, message: EmailMessage, timeout: float = 30) -> None:
    """Hand `message` to the server; raises MailError saying why it failed."""
    try:
        if settings.tls:
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if not settings.tls and smtp.has_extn("starttls") and settings.user:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(f"{type(error).__name__}: {error}") from error
