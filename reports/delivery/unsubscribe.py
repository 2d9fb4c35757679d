"""The one-click way to stop an e-mail that every message carries: a signed
link in its body and the RFC 2369 / RFC 8058 headers, so a mail program can
offer "Unsubscribe" and POST to the link without the reader signing in
(crm.accounts.unsubscribe answers it)."""

from email.message import EmailMessage

from crm.accounts.mail import unsubscribe_token


def unsubscribe_url(public_url: str, secret_key: str, email: str, kind: str) -> str:
    token = unsubscribe_token(secret_key, email, kind)
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"


def add_unsubscribe_headers(message: EmailMessage, url: str) -> None:
    message["List-Unsubscribe"] = f"<{url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
