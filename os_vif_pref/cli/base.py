"""What every ``os-vif-pref`` command shares: tables that fit, fast start.

cliff's table formatter fits a table to the terminal only on a tty and only
by squeezing every column equally (down to 8 characters, then it overflows).
A preference list has one long column ("Why") and several short ones, so in
an 80- or 120-column terminal that gives lines of hundreds of characters.
:class:`FittingTable` instead

* takes the width from ``--max-width``, else ``COLUMNS``, else the terminal
  (a pipe or a file without ``COLUMNS`` is not fitted: nothing to fit to);
* keeps the short columns whole and wraps the long ones;
* when even that does not fit, leaves out the columns the command marks as
  optional (least useful first) and says which, on the last line;
* never changes ``-f json|yaml|value|csv``: the data and column names are the
  same whatever the terminal.

:class:`Base` is the mixin every command puts first in its bases.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
import os
import textwrap
from typing import Any, TextIO

from cliff.formatters import table

from os_vif_pref import exceptions

#: A wrapped column is never made narrower than this (or its header).
MIN_WRAPPED = 10
#: What a long ("wide") column should keep at least before optional columns
#: are left out to make room for it.
MIN_WIDE = 30


def target_width(parsed_args: argparse.Namespace,
                 stdout: TextIO) -> int | None:
    """The width to fit to, or None when there is nothing to fit to."""
    explicit = int(getattr(parsed_args, "max_width", 0) or 0)
    if explicit > 0:
        return explicit
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stdout.isatty():
            return os.get_terminal_size(stdout.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _cell_width(value: Any) -> int:
    text = table._format_row([value])[0]  # cliff's own cell formatting
    return max((len(line) for line in str(text).splitlines()), default=0)


def _widths(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    out = [len(n) for n in names]
    for row in rows:
        for i, value in enumerate(row):
            out[i] = max(out[i], _cell_width(value))
    return out


def _overhead(count: int) -> int:
    return 3 * count + 1  # "| " + " | " ... " |"


def _share(natural: list[int], floor: list[int], room: int) -> list[int]:
    """Widths between ``floor`` and ``natural`` summing to at most ``room``:
    the narrowest needs are met whole first, the rest is shared equally."""
    width = list(floor)
    extra = room - sum(floor)
    needy = sorted((i for i in range(len(natural)) if natural[i] > floor[i]),
                   key=lambda i: natural[i] - floor[i])
    while needy and extra > 0:
        share = max(1, extra // len(needy))
        i = needy[0]
        need = natural[i] - width[i]
        if need <= share:
            width[i] += need
            extra -= need
            needy.pop(0)
            continue
        for i in list(needy):
            give = min(share, natural[i] - width[i], extra)
            width[i] += give
            extra -= give
            if width[i] >= natural[i]:
                needy.remove(i)
            if extra <= 0:
                break
    return width


def fit_columns(names: Sequence[str], rows: Sequence[Sequence[Any]],
                width: int, optional: Sequence[str] = (),
                wide: Iterable[str] = ()) -> tuple[list[str], list[int]]:
    """Which columns to show and how wide, to fit ``width`` characters.

    ``wide`` columns wrap first (default: the widest column); ``optional``
    ones are left out, in that order, while the others cannot keep their
    natural width with at least :data:`MIN_WIDE` for the wide ones.
    Returns (shown column names, their widths).
    """
    natural = dict(zip(names, _widths(names, rows), strict=True))
    shown = list(names)
    wide = set(wide) or {max(names, key=lambda n: natural[n])}

    def floor(name: str) -> int:
        return min(natural[name], max(len(name), MIN_WRAPPED))

    def comfortable(cols: list[str]) -> bool:
        need = _overhead(len(cols))
        for name in cols:
            need += (min(natural[name], max(floor(name), MIN_WIDE))
                     if name in wide else natural[name])
        return need <= width

    for name in optional:
        if comfortable(shown):
            break
        if name in shown and len(shown) > 1:
            shown.remove(name)
    room = width - _overhead(len(shown))
    nat = [natural[n] for n in shown]
    # Short columns first stay whole; the wide ones share what is left.
    flo = [floor(n) if n in wide else nat[i] for i, n in enumerate(shown)]
    if sum(flo) > room:
        flo = [floor(n) for n in shown]
    return shown, _share(nat, flo, room)


class FittingTable(table.TableFormatter):
    """cliff's table formatter, fitted as the module docstring says."""

    def __init__(self, command: Any = None) -> None:
        super().__init__()
        self.command = command

    def emit_list(self, column_names: Sequence[str],
                  data: Iterable[Sequence[Any]], stdout: TextIO,
                  parsed_args: argparse.Namespace) -> None:
        rows = [list(r) for r in data]
        width = target_width(parsed_args, stdout)
        if width is None or not rows:
            return super().emit_list(column_names, rows, stdout, parsed_args)
        chosen = bool(getattr(parsed_args, "columns", None))
        optional = () if chosen else getattr(self.command, "fit_optional",
                                             ())
        shown, widths = fit_columns(
            column_names, rows, width, optional,
            getattr(self.command, "fit_wide", ()))
        idx = [list(column_names).index(n) for n in shown]
        x = table.prettytable.PrettyTable(shown)
        x.padding_width = 1
        self.add_rows(x, shown, [[r[i] for i in idx] for r in rows])
        for name, w in zip(shown, widths, strict=True):
            x.max_width[name] = w
        stdout.write(x.get_string() + "\n")
        hidden = [n for n in column_names if n not in shown]
        if hidden:
            note = (f"(left out to fit {width} columns: "
                    f"{', '.join(hidden)}; -c NAME shows a column, "
                    "-f json|yaml all of them)")
            stdout.write(textwrap.fill(note, max(width, 40)) + "\n")

    def emit_one(self, column_names: Sequence[str], data: Sequence[Any],
                 stdout: TextIO, parsed_args: argparse.Namespace) -> None:
        width = target_width(parsed_args, stdout)
        if width is None:
            return super().emit_one(column_names, data, stdout, parsed_args)
        x = table.prettytable.PrettyTable(field_names=("Field", "Value"))
        x.padding_width = 1
        x.align["Field"] = "l"
        x.align["Value"] = "l"
        for name, value in zip(column_names, data, strict=False):
            x.add_row(table._format_row((name, value)))
        field = max([len("Field")] + [len(n) for n in column_names])
        x.max_width["Value"] = max(MIN_WRAPPED, width - field - 7)
        stdout.write(x.get_string() + "\n")


class Many(list):  # type: ignore[type-arg]
    """Several rows from a command that shows one object (one per port)."""


def many(columns: Sequence[str], ports: Sequence[Any],
         rows: Iterable[Sequence[Any]]) -> tuple[tuple[str, ...], Many]:
    """(columns, rows) of a one-object command given several ports: a
    ``port`` column first, shown as a list by every formatter."""
    return ("port",) + tuple(columns), Many(
        (p,) + tuple(r) for p, r in zip(ports, rows, strict=True))


class Base:
    """Mixin for every command: put it first, before cliff's base class.

    * the table formatter is :class:`FittingTable`; a command may set
      ``fit_optional`` (columns the table may leave out, least useful first)
      and ``fit_wide`` (the columns that wrap);
    * the epilog does not name the distribution: cliff finds it by scanning
      every installed package's file list (~0.15 s in a Nova venv), to say
      "provided by plugin X" about our own commands.
    """

    fit_optional: tuple[str, ...] = ()
    fit_wide: tuple[str, ...] = ()
    _epilog: str | None = None

    def get_epilog(self) -> str:
        return self._epilog or ""

    def produce_output(self, parsed_args: argparse.Namespace,
                       column_names: Sequence[str], data: Any) -> int:
        if not isinstance(data, Many):
            return super().produce_output(  # type: ignore[misc]
                parsed_args, column_names, data)
        fmt = self.formatter  # type: ignore[attr-defined]
        if not hasattr(fmt, "emit_list"):
            raise exceptions.InvalidArgument(
                name="-f", value=parsed_args.formatter,
                reason="shows one object, and the input held several "
                       "ports (choose one with --port, or use -f json, "
                       "yaml, value or table)")
        shown, selector = self._generate_columns_and_selector(  # type: ignore[attr-defined]
            parsed_args, column_names)
        rows = list(data)
        if selector:
            rows = [[v for v, keep in zip(r, selector, strict=True) if keep]
                    for r in rows]
        fmt.emit_list(shown, rows, self.app.stdout,  # type: ignore[attr-defined]
                      parsed_args)
        return 0

    def _load_formatter_plugins(self) -> Any:
        mgr = super()._load_formatter_plugins()  # type: ignore[misc]
        for ext in mgr.extensions:
            if ext.name == "table":
                ext.obj = FittingTable(self)
        return mgr
