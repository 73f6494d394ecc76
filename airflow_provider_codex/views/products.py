"""Which ``client_id`` surfaces make which product: the one registry every view reads.

The usage tables say, per user and day, which ``CODEX_*`` surfaces were used
(``codex_usage_user_client_daily.client_id``). The console's dashboards speak
of products (CLI, IDE, cloud, Code Review). The contract lists only some
surface values and says new ones appear without notice, so:

* a product is a set of exact ``client_id`` values and of prefixes
  (``CODEX_IDE_JETBRAINS_`` catches every JetBrains IDE, also future ones);
* the products are a partition: the first product that matches wins, and a
  surface no product matches (``CODEX_UNKNOWN_DEFAULT``, a value nobody knows
  yet, a user row without any surface) counts as :data:`OTHER`, never dropped;
* the user overrides any product (or adds one) with :meth:`ProductRegistry.overridden`,
  which the views operator's ``products`` argument feeds.

Classification runs here, in Python, on the distinct surfaces a window holds
(:meth:`ProductRegistry.classify`); the SQL gets explicit lists, so no
dialect has to agree on ``LIKE`` or ``SUBSTR``.

Where the contract is silent, the choice is an **assumption**, kept in the
``assumption`` text of the product (and listed in ``docs/views.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

#: The product of surfaces no product claims.
OTHER = "other"
#: The series of "every product together" (distinct users of the day, once each).
ALL = "all"
_RESERVED = frozenset({OTHER, ALL})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_CLIENT = re.compile(r"[A-Za-z0-9_.:-]{1,191}")


@dataclass(frozen=True)
class Product:
    """A named set of surfaces: exact ``client_id`` values and ``client_id`` prefixes."""

    name: str
    client_ids: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    doc: str = ""
    #: What the contract does not say and this product takes for granted (``None``: nothing).
    assumption: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"product name {self.name!r}: lower-case letters, digits and '_', starting with a letter")
        for value in (*self.client_ids, *self.prefixes):
            if not isinstance(value, str) or not _CLIENT.fullmatch(value):
                raise ValueError(f"product {self.name}: {value!r} is not a client_id (or prefix) value")

    def matches(self, client_id: str) -> bool:
        return client_id in self.client_ids or client_id.startswith(self.prefixes)

    @classmethod
    def from_patterns(cls, name: str, patterns: Iterable[str], doc: str = "") -> Product:
        """A product from ``["CODEX_CLI", "CODEX_IDE_*"]``: a trailing ``*`` makes a prefix."""
        if isinstance(patterns, str):
            raise TypeError(f"product {name}: give a list of client_id values, not one string")
        items = list(patterns)
        exact = frozenset(p for p in items if not p.endswith("*"))
        prefixes = tuple(p[:-1] for p in items if p.endswith("*"))
        return cls(name, exact, prefixes, doc=doc or "as configured", assumption="configured by the user")


@dataclass(frozen=True)
class ProductRegistry:
    """The products (a partition of the surfaces, first match wins) and the named surfaces dashboards need.

    ``cli``, ``ide``, ``cloud`` and ``code_review`` name the products the
    dashboards of those names count; ``vscode`` is the VS Code extension, a
    part of the IDE product with a dashboard of its own.
    """

    products: tuple[Product, ...]
    vscode: Product
    cli: str = "cli"
    ide: str = "ide"
    cloud: str = "cloud"
    code_review: str = "code_review"
    _by_name: Mapping[str, Product] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [p.name for p in self.products]
        if len(set(names)) != len(names):
            raise ValueError(f"products named twice: {names}")
        clash = _RESERVED & set(names)
        if clash:
            raise ValueError(f"{sorted(clash)}: reserved names (surfaces no product claims, every product together)")
        missing = [n for n in (self.cli, self.ide, self.cloud, self.code_review) if n not in names]
        if missing:
            raise ValueError(f"the dashboards need the products {missing} (give them, even empty)")
        object.__setattr__(self, "_by_name", MappingProxyType({p.name: p for p in self.products}))

    @property
    def names(self) -> tuple[str, ...]:
        """Every product's name, then :data:`OTHER`: the series of the users-by-product view."""
        return (*(p.name for p in self.products), OTHER)

    def product(self, name: str) -> Product:
        return self._by_name[name]

    def product_of(self, client_id: str | None) -> str:
        """The product a surface counts in (:data:`OTHER` when none claims it, or when there is none)."""
        if client_id is not None:
            for product in self.products:
                if product.matches(client_id):
                    return product.name
        return OTHER

    def classify(self, client_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """``client_ids`` grouped by product (products without any omitted), each group sorted."""
        groups: dict[str, list[str]] = {}
        for client_id in sorted(set(client_ids)):
            groups.setdefault(self.product_of(client_id), []).append(client_id)
        return {name: tuple(ids) for name, ids in groups.items()}

    def overridden(self, overrides: Mapping[str, Sequence[str]] | None) -> ProductRegistry:
        """This registry with products replaced or added: ``{"cli": ["CODEX_CLI"], "mobile": ["CODEX_MOBILE_*"]}``.

        The key ``vscode`` replaces the VS Code extension's surfaces. A
        replaced product keeps its place in the order; an added one comes last.
        """
        if not overrides:
            return self
        products = list(self.products)
        vscode = self.vscode
        for name, patterns in overrides.items():
            made = Product.from_patterns(name, patterns)
            if name == "vscode":
                vscode = made
                continue
            at = next((i for i, p in enumerate(products) if p.name == name), None)
            if at is None:
                products.append(made)
            else:
                products[at] = made
        return replace(self, products=tuple(products), vscode=vscode)

    def assumptions(self) -> dict[str, str]:
        """Per product (and ``vscode``), the assumption it makes, for the docs and the views' metadata."""
        every = (*self.products, self.vscode)
        return {p.name: p.assumption for p in every if p.assumption}


DEFAULT_PRODUCTS = ProductRegistry(
    products=(
        Product(
            "cli",
            frozenset({"CODEX_CLI", "CODEX_EXEC"}),
            doc="the Codex CLI, interactive and `codex exec`",
            assumption="CODEX_EXEC (non-interactive `codex exec`) is the CLI",
        ),
        Product(
            "ide",
            prefixes=("CODEX_IDE_",),
            doc="the IDE extension: VS Code, the JetBrains family (CODEX_IDE_JETBRAINS_*), the VS Code forks",
            assumption="every CODEX_IDE_* surface is the IDE product, Cursor and Windsurf included",
        ),
        Product(
            "cloud",
            frozenset({"CODEX_WEB"}),
            prefixes=("CODEX_MOBILE_",),
            doc="Codex cloud: tasks delegated from the web and the mobile apps",
            assumption="CODEX_WEB and CODEX_MOBILE_* are where cloud tasks start",
        ),
        Product(
            "code_review",
            frozenset({"CODEX_GITHUB"}),
            doc="Codex code review on GitHub pull requests",
            assumption="Code Review is the CODEX_GITHUB surface (the contract names no review surface)",
        ),
        Product(
            "integrations",
            frozenset({"CODEX_SLACK", "CODEX_LINEAR"}),
            doc="Codex started from Slack and Linear",
        ),
    ),
    vscode=Product(
        "vscode",
        frozenset({"CODEX_IDE_VSCODE"}),
        doc="the VS Code extension",
        assumption="the VS Code extension is CODEX_IDE_VSCODE only (forks report their own surface)",
    ),
)
