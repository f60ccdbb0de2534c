"""Exceptions of os-vif-pref.

Modelled on ``os_vif.exception``: every class carries a ``msg_fmt`` filled
from keyword arguments, so that callers raise with data and the text stays in
one place.  Everything derives from :class:`OsVifPrefException` so a caller
(Nova, Neutron, the CLI) can catch the whole family without catching
programming errors.
"""

from __future__ import annotations

from typing import Any

#: How much of a value a message quotes.  Input reaches messages from
#: files, ports and offers of any size; an error report must stay a line
#: long whatever was sent, and this is enough to recognise the value.
EXCERPT_CHARS = 80


def excerpt(value: Any, limit: int = EXCERPT_CHARS, *,
            quote: bool = True) -> str:
    """``repr(value)`` when short; else its first ``limit`` characters,
    marked: ``'aaaa'... (4999960 more characters)``.

    Every message that quotes input goes through here (the catalogue, the
    offer and port readers, the CLI, logs), so none grows with its input.
    A string is cut before it is quoted, so the count is of the string's
    own characters and a 5 MB value costs no 5 MB repr; other values are
    cut in their repr.  ``quote=False``: a string as it is (a port id or a
    vif_type in running text), still cut and marked.
    """
    if isinstance(value, str):
        shown = repr if quote else str
        if len(value) <= limit:
            return shown(value)
        return (f"{shown(value[:limit])}... ({len(value) - limit} more "
                "characters)")
    if isinstance(value, (bytes, bytearray)):
        if len(value) <= limit:
            return repr(value)
        return (f"{bytes(value[:limit])!r}... ({len(value) - limit} more "
                "bytes)")
    try:
        text = repr(value)
    except ValueError:  # holds an integer too long to print
        return f"<{type(value).__name__} too long to show>"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class OsVifPrefException(Exception):
    """Base class: ``msg_fmt % kwargs`` is the message."""

    msg_fmt = "An unknown os-vif-pref error occurred."
    #: Keyword arguments that carry input (a port id, a value from a file),
    #: each with whether it is quoted: the message shows an
    #: :func:`excerpt` of them (``kwargs`` keeps them whole).
    input_kwargs: dict[str, bool] = {}

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if not message:
            shown = {k: excerpt(v, quote=self.input_kwargs[k])
                     if k in self.input_kwargs else v
                     for k, v in kwargs.items()}
            try:
                message = self.msg_fmt % shown
            except (KeyError, TypeError, ValueError):
                # A wrong format must not hide the original error.
                message = f"{self.msg_fmt} {excerpt(kwargs, 400)}"
        self.message = message
        super().__init__(message)


class InvalidArgument(OsVifPrefException):
    """A value given to a command or function that cannot be used.

    ``value`` is input (a path, a port, a string from a file): the message
    quotes an :func:`excerpt` of it, never the whole of it.
    """

    msg_fmt = "Invalid %(name)s %(value)s: %(reason)s"
    input_kwargs = {"value": True}


class CatalogueError(OsVifPrefException):
    """One problem in one catalogue file, located as precisely as known."""

    msg_fmt = "%(location)s: %(field)s: %(reason)s"

    #: The most a reason may say.  Reasons quote :func:`excerpt` of what
    #: they name; this is the net under a reason that would still quote
    #: more (a list of names, a parser's own message).
    MAX_REASON = 400

    def __init__(self, *, path: str, reason: str, line: int | None = None,
                 column: int | None = None, field: str = "") -> None:
        location = path
        if line is not None:
            location += f":{line}"
            if column is not None:
                location += f":{column}"
        self.path = path
        self.line = line
        self.column = column
        self.field = field or "(file)"
        if len(reason) > self.MAX_REASON:
            reason = (f"{reason[:self.MAX_REASON]}... "
                      f"({len(reason) - self.MAX_REASON} more characters)")
        self.reason = reason
        super().__init__(location=location, field=self.field, reason=reason)


class CatalogueInvalid(OsVifPrefException):
    """The catalogue could not be loaded; carries every error found."""

    msg_fmt = "The binding catalogue is invalid:\n%(details)s"

    def __init__(self, errors: list[CatalogueError]) -> None:
        self.errors = list(errors)
        super().__init__(details="\n".join(str(e) for e in self.errors))


class CatalogueEntryNotFound(OsVifPrefException):
    msg_fmt = "No catalogue entry named %(name)s (known: %(known)s)"
    input_kwargs = {"name": True}


class UnknownConfiguredEntry(OsVifPrefException):
    msg_fmt = ("[os_vif_pref] %(option)s names entries the catalogue does not "
               "have: %(names)s (known: %(known)s)")


class MalformedOffer(OsVifPrefException):
    """A binding:profile offer that cannot be read; says what and where."""

    msg_fmt = "Malformed os_vif_pref offer in binding:profile: %(reason)s"


class OfferTooLarge(OsVifPrefException):
    """Not even one binding fits the byte budget: send no offer."""

    msg_fmt = ("The offer for host %(host)s cannot fit [os_vif_pref] "
               "offer_budget_bytes = %(budget)d: its most preferred binding "
               "%(name)s alone takes %(size)d characters")


class ProbeFailed(OsVifPrefException):
    msg_fmt = "Probe %(capability)s failed: %(reason)s"
