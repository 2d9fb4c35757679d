"""Which client an unmatched identity hint probably belongs to, and why.

A hint ("Stripe customer cus_9x", "email domain acme-dental.de") and the
record that carried it are compared with what Touchline knows of its clients:
contact emails and their domains, identities already mapped, names and slugs.
Exact evidence ranks first (a contact has this very address, a contact shares
the domain); resemblance ranks after it (the record's customer name reads
like a client's name; the domain reads like a client's domain).

`ClientMatcher` loads the portfolio once (three narrow queries) and builds
its indexes once, so a page of hints costs one load however many clients
there are: fuzzy comparison only runs on the few names that share enough
trigrams with the term, never on the whole list.
"""

import ipaddress
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.devices import HOST_SYSTEM
from crm.models import Client, Contact, Identity

SHOWN = 3
REASONS = 2  # the strongest evidence for each suggestion
# Below this similarity two names are not worth a person's attention.
MIN_SIMILARITY = 0.72
# How many trigram-sharing names get the (slower) exact comparison per term.
COMPARED_PER_TERM = 25

EXACT_EMAIL, SHARED_DOMAIN, SAME_KEY = 1.0, 0.95, 0.9
# A perfect name match is still only a resemblance: below any exact evidence.
RESEMBLANCE = 0.9

# Mailboxes anyone can have: sharing one of these domains says nothing.
FREEMAIL = frozenset((
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net", "web.de",
    "t-online.de", "mail.com", "proton.me", "protonmail.com", "uol.com.br", "bol.com.br",
    "sapo.pt", "yahoo.co.jp",
))  # fmt: skip
# Words a company name carries that say nothing about which company it is.
LEGAL_WORDS = frozenset((
    "the", "ltd", "limited", "inc", "incorporated", "llc", "gmbh", "ag", "kg", "mbh", "sa",
    "lda", "ltda", "co", "corp", "corporation", "plc", "bv", "srl", "kk", "sarl",
))  # fmt: skip
# Record fields that usually hold the name of the customer or its organisation.
NAME_FIELDS = frozenset((
    "name", "company", "company_name", "companyname", "organization", "organisation",
    "organization_name", "customer_name", "account_name", "accountname", "business_name",
    "client_name",
))  # fmt: skip
# Systems whose keys are names, not ids (a Salesforce account an export
# names only by its name), with how people call them: the key itself is
# the name to compare with the clients' names.
NAME_SYSTEMS = {"salesforce-name": "Salesforce account name"}
# Second-level labels under which companies register: acme.co.uk, acme.com.br.
SECOND_LEVEL = frozenset(("co", "com", "org", "net", "gov", "ac", "edu", "ne", "or"))
_SEPARATORS = re.compile(r"[^a-z0-9]+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MAX_RECORD_STRINGS = 300


@dataclass
class Suggestion:
    slug: str
    name: str
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Form:
    """One way a client can be recognised by resemblance: its name, slug or a domain."""

    client_id: int
    compact: str
    describe: str  # "name Acme Dental", "slug acme-dental", "domain acmedental.com"


def compact(text: str) -> str:
    """'Acme-Dental GmbH' -> 'acmedental': what two spellings of a name share."""
    return "".join(words(text))


def words(text: str) -> list[str]:
    lowered = text.lower()
    if not lowered.isascii():  # "São José" -> "sao jose"
        lowered = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode()
    return [w for w in _SEPARATORS.split(lowered) if w and w not in LEGAL_WORDS]


def domain_stem(domain: str) -> str:
    """'mail.acme-dental.co.uk' -> 'acme-dental': the part a company chose."""
    labels = domain.lower().strip(".").split(".")
    if len(labels) > 1:
        labels.pop()
    if len(labels) > 1 and labels[-1] in SECOND_LEVEL:
        labels.pop()
    return labels[-1] if labels else ""


def similarity(a: str, b: str) -> float:
    """How alike two compact names are, 0..1; a name inside another counts."""
    if not a or not b:
        return 0.0
    short, long = sorted((a, b), key=len)
    if len(short) >= 4 and short in long:
        return max(0.6 + 0.3 * len(short) / len(long), SequenceMatcher(None, a, b).ratio())
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    # The cheap upper bounds first: most candidates fail them.
    if matcher.real_quick_ratio() < MIN_SIMILARITY or matcher.quick_ratio() < MIN_SIMILARITY:
        return 0.0
    return matcher.ratio()


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


class ClientMatcher:
    def __init__(self, session: Session):
        # Core rows: the ORM's per-row loading would double the cost of the load.
        connection = session.connection()
        self.clients: dict[int, tuple[str, str]] = {
            cid: (slug, name)
            for cid, slug, name in connection.execute(select(Client.id, Client.slug, Client.name))
        }
        self.by_email: dict[str, set[int]] = defaultdict(set)
        self.by_domain: dict[str, dict[int, str]] = defaultdict(dict)  # domain -> client -> why
        self.by_key: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        self.forms: list[_Form] = []
        for cid, (slug, name) in self.clients.items():
            by_name, by_slug = compact(name), compact(slug)
            self._add_form(_Form(cid, by_name, f"name {name}"))
            if by_slug != by_name:
                self._add_form(_Form(cid, by_slug, f"slug {slug}"))
        contacts = select(Contact.client_id, Contact.email).where(Contact.email.is_not(None))
        for cid, email in connection.execute(contacts):
            email = email.lower()
            self.by_email[email].add(cid)
            self._add_domain(cid, email.rpartition("@")[2], f"contact {email}")
        identities = select(Identity.client_id, Identity.system, Identity.external_key)
        for cid, system, key in connection.execute(identities):
            self.by_key[key.lower()].append((system, key, cid))
            if system == "email":
                self.by_email[key.lower()].add(cid)
            elif system == "domain":
                self._add_domain(cid, key.lower(), f"identity domain {key}")
        self.index: dict[str, list[int]] = defaultdict(list)
        for number, form in enumerate(self.forms):
            for gram in _trigrams(form.compact):
                self.index[gram].append(number)

    def _add_form(self, form: _Form) -> None:
        if len(form.compact) >= 3:
            self.forms.append(form)

    def _add_domain(self, cid: int, domain: str, why: str) -> None:
        if domain in FREEMAIL:
            return
        clients = self.by_domain[domain]
        if cid not in clients:  # a client's domain is one form, however many contacts
            clients[cid] = why
            self._add_form(_Form(cid, compact(domain_stem(domain)), f"domain {domain}"))

    def suggest(self, system: str, key: str, records: Iterable[dict] = ()) -> list[Suggestion]:
        """The best few clients for a hint and records that carry it, with the
        strongest evidence for each."""
        evidence: dict[int, dict[str, float]] = defaultdict(dict)  # client -> reason -> score

        def note(cid: int, score: float, reason: str) -> None:
            evidence[cid][reason] = max(score, evidence[cid].get(reason, 0.0))

        emails, names = _evidence(system, key, records)
        for email in emails:
            for cid in self.by_email.get(email, ()):
                note(cid, EXACT_EMAIL, f"a contact or identity has the address {email}")
        domains = {email.rpartition("@")[2] for email in emails} | _hinted_domain(system, key)
        for domain in domains:
            for cid, why in self.by_domain.get(domain, {}).items():
                note(cid, SHARED_DOMAIN, f"same email domain {domain} ({why})")
        for other_system, other_key, cid in self.by_key.get(key.lower(), ()):
            if other_system != system:
                note(cid, SAME_KEY, f"{other_system} identity {other_key} has the same key")
        said = {f"domain {domain}" for domain in domains}  # a domain resembles itself
        for term, origin in names:
            for form, score in self._resembling(term):
                if form.describe not in said:
                    note(form.client_id, RESEMBLANCE * score, f"{origin} resembles {form.describe}")

        ranked = []
        for cid, reasons in evidence.items():
            ordered = sorted(reasons, key=reasons.__getitem__, reverse=True)
            slug, name = self.clients[cid]
            best = round(reasons[ordered[0]], 2)
            ranked.append((best, len(ordered), Suggestion(slug, name, best, ordered[:REASONS])))
        ranked.sort(key=lambda item: (-item[0], -item[1], item[2].name))
        return [suggestion for _, _, suggestion in ranked[:SHOWN]]

    def _resembling(self, term: str) -> Iterator[tuple[_Form, float]]:
        target = compact(term)
        grams = _trigrams(target)
        if not grams:
            return
        hits: Counter[int] = Counter()
        for gram in grams:
            hits.update(self.index.get(gram, ()))
        needed = max(1, len(grams) // 3)
        for number, count in hits.most_common(COMPARED_PER_TERM):
            if count < needed:
                break
            form = self.forms[number]
            score = similarity(target, form.compact)
            if score >= MIN_SIMILARITY:
                yield form, score


def _hinted_domain(system: str, key: str) -> set[str]:
    """The mail domains a hint names: a domain itself; the domains a device's
    host is in (web-1.acme.example is in acme.example)."""
    if system == "domain":
        return {key.lower()}
    if system == HOST_SYSTEM:
        return set(host_domains(key))
    return set()


def host_domains(host: str) -> list[str]:
    """The domains a host name may be a mail domain of, itself first:
    "web-1.acme.co.uk" -> ["web-1.acme.co.uk", "acme.co.uk", "co.uk"]; none
    for an address or a name without a dot."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.lower().strip(".").split(".")
        return [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return []


def _evidence(
    system: str, key: str, records: Iterable[dict]
) -> tuple[set[str], list[tuple[str, str]]]:
    """Email addresses and name-like terms in the hint and its records.

    Returns (emails, [(term, where it came from)]).
    """
    emails: set[str] = set()
    names: list[tuple[str, str]] = []
    if system == "email":
        emails.add(key.lower())
    elif system == "domain":
        names.append((domain_stem(key), f"domain {key}"))
    elif system in NAME_SYSTEMS:
        names.append((key, f"{NAME_SYSTEMS[system]} “{key}”"))
    elif system == HOST_SYSTEM and host_domains(key):
        # The domain names the company ("acme" of web-1.acme.example); the
        # device's own name seldom does.
        names.append((domain_stem(key), f"host {key}"))
    elif sum(ch.isalpha() for ch in key) >= 3:
        names.append((key, f"{system} key {key}"))
    for path, value in (item for record in records for item in _strings(record)):
        emails.update(match.lower() for match in EMAIL.findall(value))
        if path.rpartition(".")[2].lower() in NAME_FIELDS and "@" not in value:
            names.append((value[:200], f"record {path} “{value[:80]}”"))
    for email in sorted(emails):
        domain = email.rpartition("@")[2]
        if domain not in FREEMAIL:
            names.append((domain_stem(domain), f"email domain {domain}"))
    seen: set[str] = set()
    unique = []
    for term, origin in names:
        if compact(term) not in seen:
            seen.add(compact(term))
            unique.append((term, origin))
    return emails, unique


def _strings(value, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) of the strings in a record, breadth limited."""
    stack, seen = [(path, value)], 0
    while stack and seen < MAX_RECORD_STRINGS:
        where, item = stack.pop()
        if isinstance(item, str):
            seen += 1
            yield where, item
        elif isinstance(item, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((where, v) for v in item[:50])
