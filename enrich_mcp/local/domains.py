"""Domain knowledge shared by email validation and lead cleaning: registered domains, free-mail, disposable."""

from __future__ import annotations

import re
from functools import cache, lru_cache

import tldextract
from disposable_email_domains import blocklist

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # Global providers
        "gmail.com", "googlemail.com", "outlook.com", "live.com", "msn.com", "ymail.com", "rocketmail.com",
        "aol.com", "aim.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com", "protonmail.ch",
        "pm.me", "tutanota.com", "tutanota.de", "tuta.io", "fastmail.com", "fastmail.fm", "hey.com", "mail.com",
        "email.com", "zoho.com", "zohomail.com", "hushmail.com", "mailfence.com", "duck.com",
        "live.co.uk", "live.fr", "live.de", "live.nl", "live.it", "live.ca", "live.com.au",
        # Europe
        "web.de", "t-online.de", "freenet.de", "mail.ru", "inbox.ru", "list.ru", "bk.ru", "ya.ru", "rambler.ru",
        "ukr.net", "laposte.net", "orange.fr", "free.fr", "wanadoo.fr", "sfr.fr", "libero.it", "virgilio.it",
        "tiscali.it", "alice.it", "seznam.cz", "centrum.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl",
        "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net", "ntlworld.com", "bluewin.ch", "telenet.be",
        "skynet.be", "ziggo.nl", "kpnmail.nl", "home.nl", "planet.nl",
        # Americas
        "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net",
        "earthlink.net", "juno.com", "shaw.ca", "rogers.com", "sympatico.ca", "bol.com.br", "uol.com.br",
        "terra.com.br", "ig.com.br", "prodigy.net.mx",
        # Asia-Pacific
        "qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn", "sohu.com", "aliyun.com", "foxmail.com",
        "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "bigpond.com", "optusnet.com.au",
    }
)  # fmt: skip
"""Consumer mailbox providers: an address there is valid but says nothing about an employer."""

FREE_MAIL_BRANDS: frozenset[str] = frozenset({"yahoo", "hotmail", "outlook", "gmx", "yandex"})
"""Providers with a domain under many public suffixes (yahoo.co.uk, gmx.de, yandex.com.tr, ...)."""

_LABEL = re.compile(r"(?:[^\W_]|-){1,63}")


@cache
def _extractor() -> tldextract.TLDExtract:
    """tldextract limited to its bundled Public Suffix List: it never fetches the list or writes a cache."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=16_384)
def registered_domain(text: str) -> str | None:
    """The registrable domain of a URL, host or domain (``https://www.Acme.co.uk/x`` → ``acme.co.uk``).

    None for IP addresses, hosts without a public suffix (``localhost``) and malformed names. Cached: a batch
    repeats its companies' domains.
    """
    parts = _extractor()(text)
    if not parts.domain or not parts.suffix:
        return None
    domain = f"{parts.domain}.{parts.suffix}".lower()
    if not all(_LABEL.fullmatch(label) and label[0] != "-" and label[-1] != "-" for label in domain.split(".")):
        return None
    return domain


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` (lower-case) belongs to a consumer mailbox provider."""
    if domain in FREE_MAIL_DOMAINS:
        return True
    brand = domain.partition(".")[0]
    if brand not in FREE_MAIL_BRANDS:
        return False
    parts = _extractor()(domain)
    return parts.domain == brand and not parts.subdomain


def is_disposable(domain: str) -> bool:
    """Whether ``domain`` (lower-case) or a parent of it is a known throw-away mail provider."""
    labels = domain.split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))
