"""The architecture boundary of issue 13: x86 facts live in ``sigdbg/abi/x86/``.

A ratchet.  ``tests/archscan.py`` (also behind ``scripts/arch_inventory.py``)
reads every module of ``sigdbg/`` and ``plugins/`` outside ``sigdbg/abi/x86/``
(the registry, the ``Abi`` type and the other arches' packages included) with
:mod:`tokenize` and finds x86-only register names (rip, esp, rbp, eflags,
orig_rax, the cs/ss selectors, fs_base, ...), opcodes however spelled (int3 /
0xcc, ``0f 05`` syscall, ``cd 80`` int $0x80, ``0f 34`` sysenter), the debug
registers and their ``struct user`` offset, the red zone, x86 frame kinds, the
XSAVE vocabulary and the arch names themselves, in identifiers, string and
bytes literals and numbers, not in comments or docstrings.

:data:`KNOWN_X86_DEBT` lists, per module, the keys found there when the test
was written.  The test fails both ways:

- a key that a module has and its entry does not list (a new x86 site: put
  the fact in the x86 ``Abi`` values, ``sigdbg/abi/x86/abi.py``, as a field
  every ABI has, and ask the ABI, rather than growing the list);
- a listed key that is gone (the site was fixed: delete it from the list, so
  that it cannot come back unnoticed).

So the list only shrinks; docs/architecture.md section 5 says what each
entry is and where it goes.  Hits the scanner makes on code that is not x86
are in :data:`NOT_X86`, each tied to the text of its line, and an entry
whose line is gone fails too.  The scanner and the comparison are tested on
small generated sources below, so that "no new site" means something.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.archscan import ROOT, Hit, in_scope, keys_by_file, scan_source, scan_tree

#: module -> the x86 keys it still has (``scripts/arch_inventory.py`` shows the lines);
#: empty since w6/debtnames and w6/debtrender: no module outside sigdbg/abi/x86/ names x86
KNOWN_X86_DEBT: dict[str, set[str]] = {}

#: (module, key, a fragment of the line, why it is not x86): scanner hits on
#: code that only looks like x86
NOT_X86: tuple[tuple[str, str, str, str], ...] = (
    ("sigdbg/decode/cfi.py", "0x2b", "0x2B: lambda a, b: int(a > b)", "DW_OP_gt"),
    ("sigdbg/decode/cfi.py", "0x23", "op == 0x23", "DW_OP_plus_uconst"),
    ("sigdbg/decode/elfimage.py", "0x100", '0x100: "LINUX_ELFNOTE_BUILD_SALT"', "a note type"),
    ("sigdbg/engine/leave.py", "0x100", "unpack_from(raw, 8)[0] >= 0x100",
     "si_code with a ptrace event in bits 8..15"),
    ("sigdbg/engine/leave.py", "0x100", "if code >= 0x100:", "the same"),
    ("sigdbg/backends/ptrace_task.py", "0x100", "if code >= 0x100 or code ==", "the same"),
    ("sigdbg/shell/expr.py", "cs", 'letter in "cs"', "the x/FMT letters c and s"),
    ("sigdbg/decode/a64frame.py", "rt_sigframe", 'KIND = "rt_sigframe"',
     "AArch64's own struct rt_sigframe"),
    ("sigdbg/decode/a64frame.py", "rt_sigframe", "_FRAME = aarch64.RT_SIGFRAME", "the same"),
    ("sigdbg/abi/aarch64/__init__.py", "rt_sigframe", "rt_sigframe",
     "AArch64's own struct rt_sigframe (arch/arm64/kernel/signal.c)"),
    ("sigdbg/abi/aarch64/__init__.py", "rt_sigframe", "RT_SIGFRAME", "the same"),
    ("sigdbg/abi/arm/__init__.py", "rt_sigframe", "rt_sigframe",
     "ARM's own struct rt_sigframe and compat_rt_sigframe (arch/arm/kernel/signal.h, "
     "arch/arm64/kernel/signal32.c)"),
    ("sigdbg/abi/arm/__init__.py", "rt_sigframe", "RT_SIGFRAME", "the same"),
    ("sigdbg/abi/aarch64/abi.py", "rt_sigframe", "rt_sigframe",
     "AArch64's own struct rt_sigframe, as the AArch64 ABI's frame kind row"),
    ("sigdbg/abi/aarch64/abi.py", "rt_sigframe", "RT_SIGFRAME", "the same"),
    ("sigdbg/abi/arm/frames.py", "rt_sigframe", "compat_rt_sigframe",
     "ARM's own struct compat_rt_sigframe (arch/arm64/kernel/signal32.c), its row"),
    ("sigdbg/abi/arm/frames.py", "rt_sigframe", "COMPAT_RT_SIGFRAME", "the same"),
    ("sigdbg/abi/__init__.py", "x86", "from sigdbg.abi.x86 import abi as _x86",
     "the registry line of the x86 package"),
    ("sigdbg/abi/__init__.py", "x86", "*_x86.ABIS,", "the same"),
    ("sigdbg/abi/__init__.py", "x86", "MappingProxyType(dict(_x86.SCHEMA_KEYS))",
     "the same: the trace schema's JSON keys that are x86 names (SCHEMA_KEYS)"),
    ("sigdbg/decode/fparea.py", "x86", "from sigdbg.abi.x86 import xsave as _x86",
     "the registry line of the x86 FP-area walker"),
    ("sigdbg/decode/fparea.py", "x86", "from sigdbg.abi.x86 import vector_regs as _x86_vector",
     "the same, its vector registers"),
    ("sigdbg/names/__init__.py", "x86", "from sigdbg.abi.x86.names import (",
     "the registry line of the x86 name tables (XSAVE features, EFLAGS, trap vectors)"),
    ("sigdbg/decode/fparea.py", "xsave", "from sigdbg.abi.x86 import xsave as _x86",
     "the same (the walker's module name)"),
    ("sigdbg/decode/fparea.py", "x86", "= _x86.", "the same"),
    ("sigdbg/abi/aarch64/names.py", "cpuid", "asimdhp cpuid asimdrdm",
     "AArch64's HWCAP_CPUID (EL0 reads of the ID registers), not the x86 instruction"),
    ("sigdbg/decode/fparea.py", "x86", "= _x86_vector.", "the same"),
)


def compare(found: dict[str, frozenset[str]], debt: dict[str, set[str]]
            ) -> tuple[list[str], list[str]]:
    """(new "module: key" sites, listed sites that are gone), sorted."""
    new = sorted(f"{m}: {k}" for m, keys in found.items() for k in keys - debt.get(m, set()))
    gone = sorted(f"{m}: {k}" for m, keys in debt.items()
                  for k in keys - found.get(m, frozenset()))
    return new, gone


def _not_x86(rel: str, hit: Hit, lines: list[str]) -> tuple[str, str, str, str] | None:
    for entry in NOT_X86:
        if entry[0] == rel and entry[1] == hit.key and entry[2] in lines[hit.line - 1]:
            return entry
    return None


@pytest.fixture(scope="module")
def tree() -> dict[str, list[Hit]]:
    return scan_tree(ROOT)


def test_no_new_x86_site_and_no_stale_debt(tree: dict[str, list[Hit]]) -> None:
    kept: dict[str, list[Hit]] = {}
    for rel, hits in tree.items():
        lines = (ROOT / rel).read_text().splitlines()
        kept[rel] = [h for h in hits if _not_x86(rel, h, lines) is None]
    new, gone = compare(keys_by_file(kept), KNOWN_X86_DEBT)
    where = {f"{rel}: {h.key}": f"{rel}:{h.line} {h.token}" for rel, hs in kept.items()
             for h in hs}
    assert not new, ("x86 knowledge outside sigdbg/abi/x86/ (ask the Abi instead):\n"
                     + "\n".join(where[s] for s in new))
    assert not gone, ("fixed sites still listed in KNOWN_X86_DEBT (delete them):\n"
                      + "\n".join(gone))


def test_not_x86_entries_still_match(tree: dict[str, list[Hit]]) -> None:
    stale = []
    for entry in NOT_X86:
        rel, key = entry[0], entry[1]
        lines = (ROOT / rel).read_text().splitlines()
        if not any(_not_x86(rel, h, lines) == entry for h in tree.get(rel, [])
                   if h.key == key):
            stale.append(entry)
    assert not stale, f"NOT_X86 entries whose line is gone (delete them): {stale}"


def test_debt_names_only_modules_in_scope() -> None:
    for rel, keys in KNOWN_X86_DEBT.items():
        assert in_scope(Path(rel)) and (ROOT / rel).is_file(), rel
        assert keys, f"{rel}: an empty entry (delete it)"


# -- the scanner, on small generated sources -----------------------------------------------
def keys(src: str) -> set[str]:
    return {h.key for h in scan_source(textwrap.dedent(src))}


def test_comments_and_docstrings_do_not_count() -> None:
    src = '''
        """Module docstring: rip, rsp, int3, b"\\xcc", x86_64, the red zone."""
        # a comment naming eflags and orig_rax and 0f 05
        class C:
            """Class docstring: esp, ebp."""
            x = 1
            """An attribute docstring: DR7 at offset 848."""

            def f(self) -> int:
                \'\'\'Function docstring, multi-line:
                sysenter, cd 80, xmm0.\'\'\'
                return 2  # rax
        '''
    assert keys(src) == set()


def test_code_counts_identifiers_strings_bytes_numbers() -> None:
    assert keys("pc = regs.rip\n") == {"rip"}
    assert keys('pc = regs["eip"]\n') == {"eip"}
    assert keys("_RIP_OFFSET = 1\n") == {"rip"}        # underscores separate words
    assert keys("RED_ZONE = 1\n") == {"red_zone"}
    assert keys("a = s.orig_rax + s.fs_base\n") == {"orig_rax", "fs_base"}
    assert keys("set_debugreg(7, 1)\n") == {"debugreg"}
    assert keys("DR7 = 0\n") == {"dr7"}
    assert keys('t = "mov $15,%rax; syscall"\n') == {"rax"}
    assert keys('x = f"{regs.rsp:#x} at {name}"\n') == {"rsp"}   # f-string expressions
    assert keys('cs = mc["cs"]\nq = mc["ss"]\n') == {"cs", "ss"}
    assert keys("kind = 'rt_sigframe_ia32'\n") == {"rt_sigframe_ia32"}
    assert keys("m = X86_64\n") == {"x86_64"}
    assert keys("o = 312\nd = 848\nn = 298\nf = 0x100\n") == {"312", "848", "298", "0x100"}
    # a code string on the line of a docstring (byte and character columns differ)
    assert keys('def f():\n    "ééééééééééé"; x = "rsp"\n') == {"rsp"}


@pytest.mark.parametrize("spelling", [
    'b"\\xcc"', 'b"\\xCC"', 'b"\\314"', "bytes([0xcc])", "bytes([0xCC])", "bytes([204])",
    'b"\\x90\\xcc"', "INT3 = 1", '"int3"',
])
def test_int3_however_spelled(spelling: str) -> None:
    assert keys(f"x = {spelling}\n") == {"int3"}


@pytest.mark.parametrize(("spelling", "key"), [
    ('b"\\x0f\\x05"', "0f05"), ('bytes.fromhex("0f05")', "0f05"),
    ('bytes.fromhex("0f 05")', "0f05"), ('b"\\017\\005"', "0f05"),
    ('b"\\xcd\\x80"', "int80"), ('bytes.fromhex("cd80")', "int80"), ('"int $0x80"', "int80"),
    ('b"\\x0f\\x34"', "0f34"), ('bytes.fromhex("0f34")', "0f34"),
])
def test_system_call_instructions_however_spelled(spelling: str, key: str) -> None:
    assert keys(f"x = {spelling}\n") == {key}


def test_words_inside_other_words_do_not_count() -> None:
    src = '''
        def strip(response: str, syntax: int, description: str) -> str:
            receipt = "eaxes" + "crip" + "esprit"
            return response.strip() + receipt
        w = 0x80 + 128 + 256 + 35 + 51
        r8 = 0
        fs = "fstype"
        '''
    assert keys(src) == set()


def test_scan_tree_skips_abi_x86_and_reports_the_rest(tmp_path: Path) -> None:
    files = {
        "sigdbg/abi/x86/regs.py": "PC = 'rip'\n",
        "sigdbg/abi/x86/abi.py": "BREAKPOINT = b'\\xcc'\n",
        # the rest of abi/ is held to the boundary too: the registry, the value
        # types and the other arches' packages
        "sigdbg/abi/abis.py": "BREAKPOINT = b'\\xcc'\n",
        "sigdbg/abi/aarch64/abi.py": "SP = 'rsp'\n",
        "sigdbg/engine/loop.py": "def f(regs):\n    return regs.rip  # pc\n",
        "sigdbg/render/clean.py": "def f(abi, regs):\n    return regs[abi.pc]\n",
        "plugins/gdb/ext.py": "X = 'esp'\n",
        "tests/unit/test_x.py": "X = 'esp'\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = keys_by_file(scan_tree(tmp_path))
    assert found == {"sigdbg/engine/loop.py": {"rip"}, "plugins/gdb/ext.py": {"esp"},
                     "sigdbg/abi/abis.py": {"int3"}, "sigdbg/abi/aarch64/abi.py": {"rsp"}}
    assert scan_tree(tmp_path)["sigdbg/engine/loop.py"] == [Hit(2, "rip", "rip")]


def test_compare_fails_both_ways() -> None:
    debt = {"a.py": {"rip", "esp"}, "b.py": {"int3"}}
    assert compare({"a.py": frozenset({"rip", "esp"}), "b.py": frozenset({"int3"})},
                   debt) == ([], [])
    # a new key in a listed module, and a new module
    assert compare({"a.py": frozenset({"rip", "esp", "rbp"}), "b.py": frozenset({"int3"}),
                    "c.py": frozenset({"0f05"})}, debt) == (["a.py: rbp", "c.py: 0f05"], [])
    # a listed key fixed, and a listed module clean
    assert compare({"a.py": frozenset({"rip"})}, debt) == ([], ["a.py: esp", "b.py: int3"])
