"""Every ```python block of README.md and docs/**/*.md runs, so no snippet can rot.

The blocks of one page run in order in one namespace (a page builds on its earlier blocks), in a
temporary working directory of that page. A block opts out only with a marker naming a reason
from ``SKIP_REASONS``: on its fence line (```python {skip: long-run}) or on an HTML comment just
above it (<!-- skip: cluster -->).

The API reference is built from the docstrings in one style, Google's (``docstring_style: google``
in mkdocs.yml): no docstring of hpenv/ or agents/ may hold a numpy-style section, a Sphinx role
(mkdocstrings shows it as literal text), a Returns section whose items do not match what the
function returns, or an Attributes entry with several names (griffe, which mkdocstrings reads them
with, checks the last three).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]

#: The only reasons a block may be shown without being run here.
SKIP_REASONS = {
    "cluster": "needs a Ray cluster (RayRunners and PBT on Tune are tested in tests/test_ray.py)",
    "gpu": "needs a CUDA device",
    "long-run": "trains for minutes (shown with its command)",
    "rllib": "needs RLlib, which pins gymnasium 1.2.2 and so is not in the test extra",
}

FENCE = re.compile(r"^(?P<indent>\s*)```\s*(?P<lang>[\w-]*)\s*(?P<attrs>\{.*\})?\s*$")
SKIP_ATTR = re.compile(r"^\{\s*skip\s*:\s*(?P<reason>[\w-]+)\s*\}$")
SKIP_COMMENT = re.compile(r"^\s*<!--\s*skip\s*:\s*(?P<reason>[\w-]+)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the reason, or None to run

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def python_blocks(page: Path) -> list[Block]:
    """The page's fenced Python blocks, with their skip markers."""
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, indent = i, fence["indent"]
        i += 1
        while i < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[i]):
            i += 1
        if i == len(lines):
            raise ValueError(f"{page}:{start + 1}: code block never closed")
        if fence["lang"] == "python":
            skip = None
            if fence["attrs"]:
                attr = SKIP_ATTR.match(fence["attrs"])
                if not attr:
                    raise ValueError(f"{page}:{start + 1}: unknown fence attributes {fence['attrs']!r}; "
                                     "the only one allowed is {skip: REASON}")
                skip = attr["reason"]
            above = next((line for line in reversed(lines[:start]) if line.strip()), "")
            if SKIP_COMMENT.match(above):
                skip = SKIP_COMMENT.match(above)["reason"]
            body = [line[len(indent):] for line in lines[start + 1:i]]
            # leading newlines make a traceback's line number the page's own
            blocks.append(Block(page, start + 1, "\n" * (start + 1) + "\n".join(body) + "\n", skip))
        i += 1
    return blocks


BLOCKS = [block for page in PAGES for block in python_blocks(page)]


def test_every_skip_names_an_allowed_reason():
    skipped = [b for b in BLOCKS if b.skip is not None]
    unknown = [f"{b.id}: {b.skip!r}" for b in skipped if b.skip not in SKIP_REASONS]
    assert not unknown, f"skip reasons must be one of {sorted(SKIP_REASONS)}: {unknown}"
    # most snippets run: a skip is the exception that needs a cluster, a GPU or minutes
    assert len(BLOCKS) >= 15 and len(skipped) <= len(BLOCKS) // 4, \
        f"{len(skipped)} of {len(BLOCKS)} blocks skipped: {[b.id for b in skipped]}"


def test_the_readme_stays_a_quick_start():
    """The manual lives in docs/; the README keeps the set-up line, the two commands and links."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) <= 10_240, f"README.md is {len(readme.encode())} bytes; move detail to docs/"
    head = readme.splitlines()[:8]
    assert any(line.startswith("python3 -m venv .venv") for line in head)
    assert any(line.startswith("hptune train ") for line in head)
    assert any(line.startswith("python -m pytest -q -p no:cacheprovider tests") for line in head)


def test_the_extractor_reads_fences_and_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```python\nx = 1\n```\n<!-- skip: gpu -->\n\n```python\ny = 2\n```\n"
                    "```python {skip: long-run}\nz = 3\n```\n```bash\nls\n```\n")
    blocks = python_blocks(page)
    assert [(b.line, b.skip, b.code.strip()) for b in blocks] == \
        [(2, None, "x = 1"), (7, "gpu", "y = 2"), (10, "long-run", "z = 3")]
    page.write_text("```python {skip}\nx\n```\n")
    with pytest.raises(ValueError, match="unknown fence attributes"):
        python_blocks(page)


# --------------------------------------------------------------------------------------------
# One docstring style: Google's
# --------------------------------------------------------------------------------------------

PACKAGES = ("hpenv", "agents")
DASHED_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")


def numpy_sections(path: Path) -> list[str]:
    """``file:line: title`` of each numpy-style section in ``path``'s docstrings: a title line
    followed by a dashed underline (``Parameters`` / ``----------``).

    Every bare string statement counts: the docstrings of the module, its classes and functions,
    and those of attributes.
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            continue
        lines = node.value.value.splitlines()
        for i in range(1, len(lines)):
            title = lines[i - 1].strip()
            if DASHED_UNDERLINE.match(lines[i]) and title and not DASHED_UNDERLINE.match(title):
                found.append(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:"
                             f"{node.lineno + i - 1}: {title}")
    return found


def test_docstrings_are_google_style():
    modules = sorted(path for package in PACKAGES for path in (REPO / package).rglob("*.py"))
    assert len(modules) > 20, f"found only {len(modules)} modules under {PACKAGES}"
    found = [section for path in modules for section in numpy_sections(path)]
    assert not found, (
        "numpy-style docstring sections (a title over a dashed line); write Google style "
        "(`Args:`, `Returns:`, `Raises:`, items as `name: description`), as mkdocs.yml's "
        f"docstring_style says: {found}"
    )


def test_the_numpy_section_finder(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        '"""Module.\n\nReturns\n-------\nint\n    The answer.\n"""\n\n'
        "# ----------\n"  # a comment rule is no docstring
        "def f(x):\n"
        '    """Google style.\n\n    Args:\n        x: a value.\n    """\n\n'
        "class C:\n"
        '    """C.\n\n    Parameters\n    ----------\n    x\n        A value.\n    """\n\n'
        "    table = 'a\\n---\\n'  # a string that is not a docstring\n"
    )
    assert numpy_sections(module) == [f"{module}:3: Returns", f"{module}:20: Parameters"]


# ------------------------------------------------------------------ what the API reference renders
#: A Sphinx role (``:class:`X```, ``:py:func:`X```): mkdocstrings shows it as literal text; write
#: an autorefs link, ``[`X`][package.module.X]``, or plain code for what the reference does not render.
SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const|any|function|method"
                         r"|module|attribute|exception):`")
#: Words a Returns / Yields item's name never is: griffe reads ``word: text`` as a named value,
#: so prose such as ``One :class:...`` or ``The record: ...`` made an item named after its first word.
PROSE_WORDS = {"a", "an", "the", "one", "each", "every", "all", "any", "its", "their", "this", "that",
               "these", "those", "it", "if", "when", "whether", "or", "and", "none", "true", "false",
               "some", "no", "how", "what", "which", "where", "who", "how", "as", "for", "per"}


def _subscript(annotation: str | None) -> ast.Subscript | None:
    """The annotation's ``X[...]`` node; None for any other annotation (or none)."""
    try:
        node = ast.parse(annotation or "", mode="eval").body
    except SyntaxError:
        return None
    return node if isinstance(node, ast.Subscript) else None


def _tuple_size(annotation: str | None) -> int | None:
    """Elements of a fixed-size ``tuple[...]`` annotation; None for any other (or none)."""
    node = _subscript(annotation)
    if node is None:
        return None
    name = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
    if name not in ("tuple", "Tuple"):
        return None
    elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if any(isinstance(e, ast.Constant) and e.value is Ellipsis for e in elements):
        return None  # tuple[X, ...]: one value however long
    return len(elements)


def _yielded(annotation: str | None) -> str | None:
    """The yielded type of an ``Iterator[X]`` / ``Generator[X, ...]`` (and the like) annotation."""
    node = _subscript(annotation)
    if node is None:
        return None
    first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
    return ast.unparse(first)


def docstring_problems(root: Path, packages: tuple[str, ...] = PACKAGES, frozen: frozenset = frozenset()) -> list[str]:
    """``file:line: object: problem`` for what the API reference would render wrongly, read from
    the docstrings as mkdocstrings reads them (griffe, Google style). Objects under a path in
    ``frozen`` (and their members) are left as they are:

    * a Sphinx role (literal text in the reference);
    * a Returns or Yields section whose items do not match the annotation: more than one item
      where the function returns (yields) one value, more than a fixed-size tuple's elements where
      it returns a tuple (a continuation line not indented deeper than its item starts another
      item), several items not all named (a tuple's elements are ``name: description``), or an
      item whose name is a prose word or no identifier (``One :class:`X` ...`` read as a value
      named ``One``);
    * an Attributes item whose name is no identifier (``a, b: text`` is read as an attribute
      ``a,`` of type ``b``).
    """
    griffe = pytest.importorskip("griffe")
    found: list[str] = []

    def where(obj) -> str:
        return f"{obj.relative_filepath}:{obj.docstring.lineno}: {obj.path}"

    def walk(obj, seen: set):
        if obj.path in seen or obj.path in frozen:
            return
        seen.add(obj.path)
        yield obj
        for member in obj.members.values():
            if not member.is_alias:
                yield from walk(member, seen)

    for package in packages:
        module = griffe.load(package, search_paths=[str(root)], try_relative_path=False,
                             resolve_aliases=False, docstring_parser=None)
        for obj in walk(module, set()):
            if obj.docstring is None:
                continue
            if SPHINX_ROLE.search(obj.docstring.value):
                roles = sorted(set(re.findall(SPHINX_ROLE.pattern + r"[^`]*`", obj.docstring.value)))
                found.append(f"{where(obj)}: Sphinx roles {roles}")
            sections = obj.docstring.parse("google", warn_missing_types=False, warnings=False)
            for section in sections:
                kind = section.kind.value
                if kind in ("returns", "yields"):
                    annotation = str(obj.returns) if getattr(obj, "returns", None) is not None else None
                    if kind == "yields":
                        annotation = _yielded(annotation)
                    size = _tuple_size(annotation) or 1
                    items = section.value
                    if len(items) > size:
                        found.append(f"{where(obj)}: {len(items)} {kind} items for "
                                     f"{'a tuple of ' + str(size) if size > 1 else 'one value'} "
                                     f"({annotation}): {[item.description[:40] for item in items]}")
                    elif len(items) > 1 and not all(item.name for item in items):
                        found.append(f"{where(obj)}: {kind} items of a tuple without names (lines of one "
                                     f"item?): {[item.description[:40] for item in items]}")
                    for item in items:
                        if item.name and (not item.name.isidentifier() or item.name.lower() in PROSE_WORDS):
                            found.append(f"{where(obj)}: {kind} item named {item.name!r}: "
                                         f"{item.description[:60]!r}")
                elif kind == "attributes":
                    for item in section.value:
                        if not item.name.isidentifier():
                            found.append(f"{where(obj)}: attribute named {item.name!r} "
                                         f"(type {item.annotation}); one name per entry")
    return found


def frozen_by_the_v2_ledger() -> frozenset:
    """The method classes whose source (docstrings included) v2's frozen ledger fingerprints hash
    (``agents.bench.v2.method_identity``): an edit there files the method as another version, so
    their docstrings keep the bytes the registered run hashed."""
    from agents.bench.methods import resolve_method
    from agents.bench.preregistration import load_protocol
    from agents.bench.v2 import family_methods

    protocol = load_protocol()
    classes = {type(resolve_method(spec)) for plan in protocol.suites for spec in family_methods(plan)}
    return frozenset(f"{c.__module__}.{c.__qualname__}" for c in classes)


def test_the_api_reference_reads_the_docstrings_right():
    frozen = frozen_by_the_v2_ledger()
    assert "agents.bench.methods.learned.RRMeta" in frozen
    found = docstring_problems(REPO, frozen=frozen)
    assert not found, (
        "docstrings the API reference renders wrongly (Sphinx roles: write [`Name`][full.path] or "
        "`code`; Returns: indent continuation lines deeper than their item; Attributes: one name "
        "per entry):\n" + "\n".join(found)
    )


def test_the_docstring_checker(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""Package: see :class:`pkg.C`."""\n\n'
        "def pair() -> tuple[int, str]:\n"
        '    """Two values.\n\n    Returns:\n        count: how many.\n        label: its name.\n    """\n\n'
        "def split() -> list[dict]:\n"
        '    """A continuation at the item\'s indent.\n\n    Returns:\n        One dict per row:\n'
        '        ``a`` and ``b``.\n    """\n\n'
        "def prose() -> int:\n"
        '    """A first word read as a name.\n\n    Returns:\n        Whether (it is known): 42.\n    """\n\n'
        "def unnamed() -> tuple[int, int]:\n"
        '    """Two lines of one item.\n\n    Returns:\n        The first and\n        the second.\n    """\n\n'
        "def fine() -> int:\n"
        '    """One value over two lines.\n\n    Returns:\n        The answer, with a long\n'
        '            description.\n    """\n\n'
        "class C:\n"
        '    """A class.\n\n    Attributes:\n        a, b: two names.\n        c: one name.\n    """\n'
    )
    found = docstring_problems(tmp_path, ("pkg",))
    assert [line.split(": ", 2)[1:] for line in found] == [
        ["pkg", "Sphinx roles [':class:`pkg.C`']"],
        ["pkg.split", "2 returns items for one value (list[dict]): ['One dict per row:', '``a`` and ``b``.']"],
        ["pkg.prose", "returns item named 'Whether': '42.'"],
        ["pkg.unnamed", "returns items of a tuple without names (lines of one item?): ['The first and', 'the second.']"],
        ["pkg.C", "attribute named 'a,' (type b); one name per entry"],
    ], found


class _Page:
    """One page's namespace and working directory, and how many of its blocks have run."""

    def __init__(self, workdir: Path):
        self.namespace: dict = {"__name__": "__docs__"}
        self.workdir = workdir
        self.done = 0


_pages: dict[Path, _Page] = {}


def _run(block: Block, state: _Page) -> None:
    exec(compile(block.code, str(block.page), "exec"), state.namespace)  # noqa: S102


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_snippet_runs(block: Block, tmp_path_factory, monkeypatch):
    if block.skip is not None:
        pytest.skip(f"{block.skip}: {SKIP_REASONS.get(block.skip, 'unknown reason')}")
    page_blocks = [b for b in BLOCKS if b.page == block.page]
    state = _pages.get(block.page)
    if state is None:
        state = _pages[block.page] = _Page(tmp_path_factory.mktemp(block.page.stem))
    monkeypatch.chdir(state.workdir)
    # a block builds on the earlier blocks of its page: run those first (also under -k)
    index = page_blocks.index(block)
    for earlier in page_blocks[state.done:index + 1]:
        if earlier.skip is None:
            _run(earlier, state)
        state.done += 1
